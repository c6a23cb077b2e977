// Cores inside a container: the cgroup v2/v1 CPU quota parsers, the reader
// over planted cgroup trees, and ServerOptions::Finalize using the result.
#include "server/cpu_limits.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/options.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;

TEST(ParseCgroupV2CpuMax, QuotaInWholeCoresRoundedUp) {
  EXPECT_EQ(ParseCgroupV2CpuMax("200000 100000\n"), 2);
  EXPECT_EQ(ParseCgroupV2CpuMax("150000 100000"), 2);  // --cpus=1.5 needs 2 workers' room
  EXPECT_EQ(ParseCgroupV2CpuMax("50000 100000"), 1);   // never 0
  EXPECT_EQ(ParseCgroupV2CpuMax("3200000 100000"), 32);
}

TEST(ParseCgroupV2CpuMax, MaxAndGarbageAreNoLimit) {
  EXPECT_EQ(ParseCgroupV2CpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax(""), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("200000"), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("lots 100000"), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("200000 0"), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("-5 100000"), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("1 2 3"), std::nullopt);
}

TEST(ParseCgroupV1CpuQuota, QuotaOrMinusOne) {
  EXPECT_EQ(ParseCgroupV1CpuQuota("400000\n", "100000\n"), 4);
  EXPECT_EQ(ParseCgroupV1CpuQuota("250000", "100000"), 3);
  EXPECT_EQ(ParseCgroupV1CpuQuota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupV1CpuQuota("x", "100000"), std::nullopt);
  EXPECT_EQ(ParseCgroupV1CpuQuota("400000", ""), std::nullopt);
}

TEST(ParseCgroupV2Path, TheUnifiedLine) {
  EXPECT_EQ(ParseCgroupV2Path("0::/\n"), "/");
  EXPECT_EQ(ParseCgroupV2Path("12:cpu,cpuacct:/docker/abc\n0::/user.slice/s.scope\n"),
            "/user.slice/s.scope");
  EXPECT_EQ(ParseCgroupV2Path("4:cpu,cpuacct:/docker/abc\n"), std::nullopt);  // v1 only
  EXPECT_EQ(ParseCgroupV2Path("0::relative\n"), std::nullopt);
}

class CgroupTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/cpu_limits_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  void Plant(const std::string& relative, const std::string& contents) {
    const fs::path path = fs::path(root_) / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << contents;
  }

  std::string root_;
};

TEST_F(CgroupTreeTest, V2ContainerLimit) {
  Plant("proc/self/cgroup", "0::/\n");
  Plant("sys/fs/cgroup/cpu.max", "200000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), 2);
  EXPECT_EQ(UsableCores(root_), std::min(2, UsableCores(root_ + "/nothing")));
}

TEST_F(CgroupTreeTest, V2MaxIsNoLimit) {
  Plant("proc/self/cgroup", "0::/\n");
  Plant("sys/fs/cgroup/cpu.max", "max 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), std::nullopt);
}

TEST_F(CgroupTreeTest, V2SmallestLimitOnThePathWins) {
  // The process's own cgroup says max; a parent caps it at 3 cores.
  Plant("proc/self/cgroup", "0::/machine/ctr\n");
  Plant("sys/fs/cgroup/machine/ctr/cpu.max", "max 100000\n");
  Plant("sys/fs/cgroup/machine/cpu.max", "300000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), 3);
  Plant("sys/fs/cgroup/machine/ctr/cpu.max", "100000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), 1);
}

TEST_F(CgroupTreeTest, V2WithoutProcSelfCgroupReadsTheRoot) {
  Plant("sys/fs/cgroup/cpu.max", "400000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), 4);
}

TEST_F(CgroupTreeTest, V1Limited) {
  Plant("proc/self/cgroup", "4:cpu,cpuacct:/docker/abc\n");
  Plant("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n");
  Plant("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), 2);
}

TEST_F(CgroupTreeTest, V1UnderCpuAlone) {
  Plant("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "100000\n");
  Plant("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), 1);
}

TEST_F(CgroupTreeTest, V1MinusOneIsNoLimit) {
  Plant("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  Plant("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_), std::nullopt);
}

TEST_F(CgroupTreeTest, MissingFilesAreNoLimit) {
  EXPECT_EQ(CgroupCpuLimit(root_), std::nullopt);
  Plant("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "100000\n");  // period missing
  EXPECT_EQ(CgroupCpuLimit(root_), std::nullopt);
}

TEST_F(CgroupTreeTest, GarbageIsNoLimit) {
  Plant("proc/self/cgroup", "\x01\x02garbage");
  Plant("sys/fs/cgroup/cpu.max", "two cores please\n");
  EXPECT_EQ(CgroupCpuLimit(root_), std::nullopt);
  const int unlimited = UsableCores(root_);
  EXPECT_GE(unlimited, 1);
  EXPECT_LE(unlimited, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(UsableCores, NeverMoreThanTheMachineNorLessThanOne) {
  const int cores = UsableCores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(ServerOptionsCores, ZeroMeansUsableCoresAndAnExplicitValueIsKept) {
  ServerOptions automatic;
  ASSERT_TRUE(automatic.Finalize().ok());
  EXPECT_EQ(automatic.cores, UsableCores());
  EXPECT_EQ(automatic.workers, UsableCores());  // default_threads 1

  ServerOptions given;
  given.cores = 3;
  given.default_threads = 3;
  ASSERT_TRUE(given.Finalize().ok());
  EXPECT_EQ(given.cores, 3);
  EXPECT_EQ(given.workers, 1);
}

}  // namespace
}  // namespace trainyard::server
