// How many cores this process may really use. hardware_concurrency() counts
// the host's CPUs and ignores a container's CPU quota (`docker run --cpus=2`
// on a 32-core host would give 32 workers fighting over 2 cores' worth of
// time) and the affinity mask (`taskset`, `--cpuset-cpus`). The parsers are
// pure functions over file contents and the reader takes a root directory, so
// tests plant cgroup files in a temp dir.
#ifndef TRAINYARD_SERVER_CPU_LIMITS_H_
#define TRAINYARD_SERVER_CPU_LIMITS_H_

#include <optional>
#include <string>
#include <string_view>

namespace trainyard::server {

// cgroup v2 `cpu.max`: "<quota> <period>" in microseconds, or "max <period>"
// for no limit. The quota in cores rounded up (150000 100000 -> 2), at
// least 1; nullopt for "max" and for anything that does not parse.
std::optional<int> ParseCgroupV2CpuMax(std::string_view contents);

// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: quota -1 means no
// limit. Rounded up as above; nullopt for no limit or garbage.
std::optional<int> ParseCgroupV1CpuQuota(std::string_view quota_us, std::string_view period_us);

// The cgroup v2 path of this process from /proc/self/cgroup's "0::<path>"
// line; nullopt when there is none (cgroup v1 only, or garbage).
std::optional<std::string> ParseCgroupV2Path(std::string_view proc_self_cgroup);

// The CPU quota, in whole cores, visible under `root` ("/" in production):
// cgroup v2 `cpu.max` of this process's cgroup and of each ancestor up to
// <root>/sys/fs/cgroup (the smallest wins: a parent's limit binds its
// children), else cgroup v1's quota under <root>/sys/fs/cgroup/cpu or
// cpu,cpuacct. nullopt when no limit is set or nothing can be read.
std::optional<int> CgroupCpuLimit(const std::string& root);

// The cores to plan for: the smallest of hardware_concurrency(), the
// affinity mask (sched_getaffinity) and CgroupCpuLimit(root); at least 1.
int UsableCores(const std::string& root = "/");

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_CPU_LIMITS_H_
