// The machine's memory as the server sees it, for the default of
// ServerOptions::max_job_memory.
#ifndef TRAINYARD_SERVER_MEMORY_BUDGET_H_
#define TRAINYARD_SERVER_MEMORY_BUDGET_H_

#include <cstdint>

namespace trainyard::server {

// Bytes the process may use: MemTotal (/proc/meminfo), or the cgroup's limit
// (v2 memory.max, v1 memory.limit_in_bytes) when that is smaller. 0 when
// neither can be read.
int64_t MachineMemoryBytes();

// Half of MachineMemoryBytes() — the rest is for the datasets, the cached
// predictors and the other jobs — and at least 256 MiB; 4 GiB when the
// machine's memory is unknown.
int64_t DefaultJobMemoryBudget();

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_MEMORY_BUDGET_H_
