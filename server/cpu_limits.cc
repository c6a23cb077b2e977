#include "server/cpu_limits.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/env.h"

namespace trainyard::server {
namespace {

// Debian's abseil has its own string_view type.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ceil(quota / period) cores, at least 1; nullopt unless both are positive.
std::optional<int> CoresOf(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  const int64_t cores = (quota + period - 1) / period;
  return static_cast<int>(std::clamp<int64_t>(cores, 1, 1 << 20));
}

std::optional<std::string> Read(const std::string& path) {
  absl::StatusOr<std::string> text = Env::Default()->ReadFile(path);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

std::optional<int> Min(std::optional<int> a, std::optional<int> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

std::optional<int> ParseCgroupV2CpuMax(std::string_view contents) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(A(contents)), ' ', absl::SkipEmpty());
  if (fields.size() != 2) return std::nullopt;
  int64_t quota = 0, period = 0;
  if (fields[0] == "max") return std::nullopt;
  if (!absl::SimpleAtoi(fields[0], &quota) || !absl::SimpleAtoi(fields[1], &period)) {
    return std::nullopt;
  }
  return CoresOf(quota, period);
}

std::optional<int> ParseCgroupV1CpuQuota(std::string_view quota_us, std::string_view period_us) {
  int64_t quota = 0, period = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(A(quota_us)), &quota) ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(A(period_us)), &period)) {
    return std::nullopt;
  }
  return CoresOf(quota, period);  // -1: no limit
}

std::optional<std::string> ParseCgroupV2Path(std::string_view proc_self_cgroup) {
  for (absl::string_view line : absl::StrSplit(A(proc_self_cgroup), '\n')) {
    if (!absl::ConsumePrefix(&line, "0::")) continue;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() != '/') return std::nullopt;
    return std::string(line);
  }
  return std::nullopt;
}

std::optional<int> CgroupCpuLimit(const std::string& root) {
  std::string base = root;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string cgroup = base + "/sys/fs/cgroup";

  // cgroup v2. Inside a container with its own cgroup namespace the path is
  // "/" and the limit is in <cgroup>/cpu.max itself; on a host (or without
  // a namespace) it is in the process's own cgroup or one of its parents.
  std::optional<int> v2;
  bool v2_seen = false;
  std::string path;
  if (std::optional<std::string> self = Read(base + "/proc/self/cgroup")) {
    path = ParseCgroupV2Path(*self).value_or("");
    if (path == "/") path.clear();
  }
  while (true) {
    if (std::optional<std::string> cpu_max = Read(cgroup + path + "/cpu.max")) {
      v2_seen = true;
      v2 = Min(v2, ParseCgroupV2CpuMax(*cpu_max));
    }
    if (path.empty()) break;
    path.resize(path.rfind('/'));  // "/a/b" -> "/a" -> "" (the root)
  }
  if (v2_seen) return v2;

  // cgroup v1: the container's own cgroup is mounted at the hierarchy root.
  for (const char* dir : {"/cpu", "/cpu,cpuacct"}) {
    std::optional<std::string> quota = Read(cgroup + dir + "/cpu.cfs_quota_us");
    std::optional<std::string> period = Read(cgroup + dir + "/cpu.cfs_period_us");
    if (quota && period) return ParseCgroupV1CpuQuota(*quota, *period);
  }
  return std::nullopt;
}

int UsableCores(const std::string& root) {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int allowed = CPU_COUNT(&set);
    if (allowed > 0) cores = std::min(cores, allowed);
  }
  if (std::optional<int> limit = CgroupCpuLimit(root)) cores = std::min(cores, *limit);
  return std::max(1, cores);
}

}  // namespace trainyard::server
