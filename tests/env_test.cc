// The file-system seam: the one errno mapping, the POSIX Env, the fault Env
// that tests use to fill the disk, fail an operation or crash, and
// WriteFileAtomically on top of them.
#include "core/env.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "core/atomic_file.h"
#include "core/file_status.h"
#include "core/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fault_env.h"

namespace trainyard {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::trainyard::testing::FaultEnv;

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/env_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  int EntriesIn(const std::string& dir) const {
    return static_cast<int>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
  }
  std::string dir_;
};

TEST(ErrnoToStatus, OneTableForEveryCaller) {
  struct Case {
    int err;
    absl::StatusCode code;
  };
  for (Case c : {Case{ENOENT, absl::StatusCode::kNotFound},
                 Case{ENOTDIR, absl::StatusCode::kNotFound},
                 Case{EACCES, absl::StatusCode::kPermissionDenied},
                 Case{EPERM, absl::StatusCode::kPermissionDenied},
                 Case{EROFS, absl::StatusCode::kFailedPrecondition},  // issue 9
                 Case{ENOSPC, absl::StatusCode::kResourceExhausted},
                 Case{EDQUOT, absl::StatusCode::kResourceExhausted},
                 Case{EFBIG, absl::StatusCode::kResourceExhausted},
                 Case{EISDIR, absl::StatusCode::kInvalidArgument},
                 Case{ENAMETOOLONG, absl::StatusCode::kInvalidArgument},
                 Case{EEXIST, absl::StatusCode::kAlreadyExists},
                 Case{EIO, absl::StatusCode::kInternal},
                 Case{EBADF, absl::StatusCode::kInternal}}) {
    absl::Status s = ErrnoToStatus(c.err, "cannot write", "/d/f");
    EXPECT_EQ(s.code(), c.code) << c.err;
    EXPECT_THAT(std::string(s.message()), HasSubstr("cannot write /d/f: ")) << c.err;
  }
  // A full disk says so in words, so it cannot pass for a size limit.
  EXPECT_THAT(std::string(ErrnoToStatus(ENOSPC, "cannot write", "/f").message()),
              HasSubstr("No space left on device"));
  // Issue 9: a full disk and a read-only one name the path in plain words.
  EXPECT_THAT(std::string(ErrnoToStatus(ENOSPC, "cannot write", "/d/f").message()),
              HasSubstr("disk full at /d/f"));
  EXPECT_THAT(std::string(ErrnoToStatus(EROFS, "cannot write", "/d/f").message()),
              HasSubstr("read-only file system at /d/f"));
}

TEST(IsLowerHex, ExactLengthLowerCaseOnly) {
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("abc")));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(62, 'a') + "/."));
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_FALSE(IsLowerHex("0123456789abcdeg", 16));
  EXPECT_TRUE(IsLowerHex("", 0));
}

TEST_F(EnvTest, PosixEnvRoundTrip) {
  Env* env = Env::Default();
  const std::string path = dir_ + "/a";
  auto file = env->NewExclusiveFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append("world").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ((*file)->Close().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(env->NewExclusiveFile(path).status().code(), absl::StatusCode::kAlreadyExists);

  EXPECT_TRUE(env->FileExists(path));
  EXPECT_EQ(*env->FileSize(path), 11);
  EXPECT_EQ(*env->ReadFile(path), "hello world");
  EXPECT_EQ(*env->ReadRange(path, 6, 100), "world");
  EXPECT_EQ(*env->ReadRange(path, 11, 1), "");
  EXPECT_EQ(env->ReadRange(path, 12, 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(env->ReadRange(path, -1, 1).status().code(), absl::StatusCode::kOutOfRange);

  ASSERT_TRUE(env->CreateDir(dir_ + "/sub").ok());
  ASSERT_TRUE(env->CreateDir(dir_ + "/sub").ok());  // already there: fine
  ASSERT_TRUE(env->RenameFile(path, dir_ + "/sub/b").ok());
  ASSERT_TRUE(env->SyncDir(dir_ + "/sub").ok());
  EXPECT_EQ(*env->ListDir(dir_ + "/sub"), std::vector<std::string>{"b"});
  ASSERT_TRUE(env->RemoveFile(dir_ + "/sub/b").ok());
  EXPECT_FALSE(env->FileExists(dir_ + "/sub/b"));

  absl::Status missing = env->RemoveFile(dir_ + "/nope");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr(dir_ + "/nope"));
  EXPECT_EQ(env->ReadFile(dir_ + "/nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env->ReadFile(dir_).status().code(), absl::StatusCode::kInvalidArgument);  // EISDIR
}

TEST_F(EnvTest, ReadFileReadsWholeFilesOfAnySizeAndOfUnknownSize) {
  Env* env = Env::Default();
  std::string big;
  for (int i = 0; i < 300000; ++i) big += static_cast<char>('a' + i % 26);
  auto file = *env->NewExclusiveFile(dir_ + "/big");
  ASSERT_TRUE(file->Append(big).ok());
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(*env->ReadFile(dir_ + "/big"), big);
  ASSERT_TRUE((*env->NewExclusiveFile(dir_ + "/empty"))->Close().ok());
  EXPECT_EQ(*env->ReadFile(dir_ + "/empty"), "");
  // /proc files report size 0 but have content.
  auto proc = env->ReadFile("/proc/self/status");
  ASSERT_TRUE(proc.ok()) << proc.status();
  EXPECT_THAT(*proc, HasSubstr("Name:"));
}

TEST_F(EnvTest, FaultEnvFillsTheDiskAtTheBudget) {
  FaultEnv env;
  env.SetDiskBudget(10);
  auto file = *env.NewExclusiveFile(dir_ + "/f");
  ASSERT_TRUE(file->Append("12345678").ok());
  absl::Status full = file->Append("abc");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), HasSubstr("No space left on device"));
  ASSERT_TRUE(file->Append("90").ok());  // what still fits, fits
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(*env.ReadFile(dir_ + "/f"), "1234567890");  // the refused write wrote nothing
  env.Heal();
  EXPECT_TRUE((*env.NewExclusiveFile(dir_ + "/g"))->Append(std::string(100, 'x')).ok());
}

TEST_F(EnvTest, FaultEnvFailsTheNthOperationOfAKindOnce) {
  FaultEnv env;
  env.FailNth(FileOp::kRename, 2, EACCES);
  for (const char* name : {"/a", "/b", "/c"}) {
    ASSERT_TRUE((*env.NewExclusiveFile(dir_ + name))->Close().ok());
  }
  EXPECT_TRUE(env.RenameFile(dir_ + "/a", dir_ + "/a2").ok());
  absl::Status second = env.RenameFile(dir_ + "/b", dir_ + "/b2");
  EXPECT_EQ(second.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(env.FileExists(dir_ + "/b"));  // a failed rename renamed nothing
  EXPECT_TRUE(env.RenameFile(dir_ + "/c", dir_ + "/c2").ok());
  EXPECT_EQ(env.CheckForeignWrite(FileOp::kSync, "db", 0), 0);
  env.FailNth(FileOp::kSync, 1, EIO);
  EXPECT_EQ(env.CheckForeignWrite(FileOp::kSync, "db", 0), EIO);
}

TEST_F(EnvTest, FaultEnvCrashStopsEverythingAfterKOperations) {
  FaultEnv env;
  env.CrashAfter(2);
  auto file = env.NewExclusiveFile(dir_ + "/f");  // 1
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("x").ok());  // 2
  EXPECT_TRUE(env.crashed());
  absl::Status after = (*file)->Sync();
  EXPECT_EQ(after.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(after.message()), HasSubstr("simulated crash"));
  EXPECT_FALSE(env.FileExists(dir_ + "/f"));  // a dead process sees nothing
  EXPECT_FALSE(env.ReadFile(dir_ + "/f").ok());
  EXPECT_EQ(env.CheckForeignWrite(FileOp::kWrite, "db", 1), EIO);
  EXPECT_EQ(*Env::Default()->ReadFile(dir_ + "/f"), "x");  // what reached the disk stays
}

TEST_F(EnvTest, WriteFileAtomicallyUnderAFullDiskKeepsTheOldFile) {
  const std::string path = dir_ + "/model.ckpt";
  ASSERT_TRUE(WriteFileAtomically(path, "old contents").ok());
  FaultEnv env;
  env.SetDiskBudget(5);
  absl::Status s = WriteFileAtomically(path, "new and longer contents", &env);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("No space left on device"));
  EXPECT_EQ(*Env::Default()->ReadFile(path), "old contents");
  EXPECT_EQ(EntriesIn(dir_), 1);  // the temp file is gone
}

TEST_F(EnvTest, WriteFileAtomicallyFailedFsyncOrRenameKeepsTheOldFile) {
  const std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  for (FileOp op : {FileOp::kSync, FileOp::kRename}) {
    FaultEnv env;
    env.FailNth(op, 1, EIO);
    absl::Status s = WriteFileAtomically(path, "new", &env);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << FileOpName(op);
    EXPECT_EQ(*Env::Default()->ReadFile(path), "old") << FileOpName(op);
    EXPECT_EQ(EntriesIn(dir_), 1) << FileOpName(op);
  }
}

TEST_F(EnvTest, WriteFileAtomicallyCrashAtEveryStepLeavesOldOrNew) {
  const std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  FaultEnv counter;
  ASSERT_TRUE(WriteFileAtomically(path, "old", &counter).ok());
  const int64_t steps = counter.mutating_ops();
  ASSERT_GE(steps, 5);  // create, write, sync, rename, sync dir
  for (int64_t k = 0; k <= steps; ++k) {
    FaultEnv env;
    env.CrashAfter(k);
    absl::Status s = WriteFileAtomically(path, "new", &env);
    EXPECT_EQ(s.ok(), k == steps) << k;
    std::string now = *Env::Default()->ReadFile(path);
    EXPECT_TRUE(now == "old" || now == "new") << k << ": " << now;
    if (s.ok()) {
      EXPECT_EQ(now, "new");
    }
    // Only the target and, for a crash before the rename, a temp file.
    ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path() != path) fs::remove(e.path());
    }
  }
}

TEST_F(EnvTest, CreatesPrivateFilesAndDirsWhateverTheUmaskUnlessToldToShare) {
  auto mode = [](const std::string& path) {
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  };
  Env* env = Env::Default();
  const mode_t old = ::umask(0);  // nothing masked: the modes asked for are the modes
  ASSERT_TRUE((*env->NewExclusiveFile(dir_ + "/private"))->Close().ok());
  ASSERT_TRUE((*env->NewExclusiveFile(dir_ + "/shared", kSharedFileMode))->Close().ok());
  ASSERT_TRUE(env->CreateDir(dir_ + "/dir").ok());
  FaultEnv fault;  // passes the mode through
  ASSERT_TRUE((*fault.NewExclusiveFile(dir_ + "/through-fault-env"))->Close().ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/user-file", "x").ok());
  ::umask(022);
  ASSERT_TRUE((*env->NewExclusiveFile(dir_ + "/private-022"))->Close().ok());
  ::umask(old);
  EXPECT_EQ(mode(dir_ + "/private"), 0600u);
  EXPECT_EQ(mode(dir_ + "/shared"), 0666u);
  EXPECT_EQ(mode(dir_ + "/dir"), 0700u);
  EXPECT_EQ(mode(dir_ + "/through-fault-env"), 0600u);
  EXPECT_EQ(mode(dir_ + "/user-file"), 0666u);  // a user's file follows the umask
  EXPECT_EQ(mode(dir_ + "/private-022"), 0600u);
  // An existing directory keeps its mode.
  ASSERT_EQ(::chmod((dir_ + "/dir").c_str(), 0755), 0);
  ASSERT_TRUE(env->CreateDir(dir_ + "/dir").ok());
  EXPECT_EQ(mode(dir_ + "/dir"), 0755u);
}

}  // namespace
}  // namespace trainyard
