#include "server/memory_budget.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace trainyard::server {
namespace {

// The first number in `path` ("max" and unreadable files: 0).
int64_t ReadNumber(const char* path) {
  std::ifstream in(path);
  int64_t value = 0;
  if (!(in >> value)) return 0;
  return value;
}

int64_t MemTotalBytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    int64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return 0;
}

}  // namespace

int64_t MachineMemoryBytes() {
  int64_t bytes = MemTotalBytes();
  // v1 reports "no limit" as a huge number, v2 as "max" (read as 0): either
  // way the smaller positive value wins.
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    const int64_t limit = ReadNumber(path);
    if (limit > 0 && (bytes == 0 || limit < bytes)) bytes = limit;
  }
  return bytes;
}

int64_t DefaultJobMemoryBudget() {
  const int64_t machine = MachineMemoryBytes();
  if (machine <= 0) return int64_t{4} << 30;
  return std::max<int64_t>(machine / 2, int64_t{256} << 20);
}

}  // namespace trainyard::server
