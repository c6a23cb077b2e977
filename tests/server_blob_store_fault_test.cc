// The blob store over a failing file system (tests/testing/fault_env.h): a
// full disk, a failed fsync and a crash at every step of a Put must each
// leave either the complete blob under its name or nothing, and no temp file
// once the writer is gone or the store is reopened.
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "core/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/blob_store.h"
#include "tests/testing/fault_env.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::trainyard::testing::FaultEnv;

class BlobStoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/trainyard_blobfault_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  bool TmpIsEmpty() const { return fs::is_empty(dir_ + "/tmp"); }
  std::string dir_;
};

TEST_F(BlobStoreFaultTest, FullDiskDuringUploadNamesTheDiskAndLeavesNothing) {
  FaultEnv env;
  auto store = *BlobStore::Open(dir_, &env);
  const std::string data(4096, 'z');
  env.SetDiskBudget(1000);
  {
    auto writer = *store->NewWriter(/*max_bytes=*/1 << 20);
    ASSERT_TRUE(writer->Append(data.substr(0, 512)).ok());
    absl::Status full = writer->Append(data.substr(512));
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(std::string(full.message()), HasSubstr("No space left on device"));
    EXPECT_FALSE(IsSizeLimitError(full));  // the server's disk, not the client's upload
    EXPECT_EQ(writer->Commit().status().code(), absl::StatusCode::kResourceExhausted);
  }
  EXPECT_FALSE(store->Exists(Sha256Hex(data)));
  EXPECT_TRUE(TmpIsEmpty());
  env.Heal();  // space freed: the same upload now goes through
  auto sha = store->Put(data);
  ASSERT_TRUE(sha.ok()) << sha.status();
  EXPECT_EQ(*store->ReadAll(*sha), data);
}

TEST_F(BlobStoreFaultTest, SizeLimitIsTellableFromAFullDisk) {
  auto store = *BlobStore::Open(dir_);
  auto writer = *store->NewWriter(/*max_bytes=*/4);
  absl::Status limit = writer->Append("12345");
  EXPECT_EQ(limit.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(limit.message()), HasSubstr("data exceeds the limit of 4 bytes"));
  EXPECT_TRUE(IsSizeLimitError(limit));
  EXPECT_TRUE(IsSizeLimitError(writer->Commit().status()));  // the sticky copy too
  EXPECT_FALSE(IsSizeLimitError(absl::ResourceExhaustedError("data exceeds the limit")));
  EXPECT_FALSE(IsSizeLimitError(absl::OkStatus()));
}

TEST_F(BlobStoreFaultTest, FailedFsyncMakesNothingVisible) {
  FaultEnv env;
  auto store = *BlobStore::Open(dir_, &env);
  env.FailNth(FileOp::kSync, 1, EIO);
  {
    auto writer = *store->NewWriter();
    ASSERT_TRUE(writer->Append("payload").ok());
    auto sha = writer->Commit();
    EXPECT_EQ(sha.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(sha.status().message()), HasSubstr("Input/output error"));
  }
  EXPECT_FALSE(store->Exists(Sha256Hex("payload")));
  EXPECT_TRUE(TmpIsEmpty());
}

TEST_F(BlobStoreFaultTest, FailedRenameOrDirectorySyncIsReported) {
  FaultEnv env;
  auto store = *BlobStore::Open(dir_, &env);
  env.FailNth(FileOp::kRename, 1, EIO);
  EXPECT_EQ(store->Put("a").status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(store->Exists(Sha256Hex("a")));
  EXPECT_TRUE(TmpIsEmpty());
  // A blob renamed into place but whose directory entry may not be durable
  // is not reported as stored.
  env.FailNth(FileOp::kSyncDir, 1, EIO);
  EXPECT_EQ(store->Put("b").status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(TmpIsEmpty());
}

TEST_F(BlobStoreFaultTest, CrashAtEveryStepOfAPutLeavesTheBlobWholeOrAbsent) {
  const std::string data = "the bytes of a dataset\n" + std::string(10000, 'q');
  const std::string sha = Sha256Hex(data);
  int64_t steps = 0;
  {
    // A clean Put over a counting Env gives the number of steps to cut at.
    fs::path scratch = fs::path(dir_) / "count";
    FaultEnv counter;
    auto store = *BlobStore::Open(scratch.string(), &counter);
    const int64_t before = counter.mutating_ops();
    ASSERT_TRUE(store->Put(data).ok());
    steps = counter.mutating_ops() - before;
    ASSERT_GE(steps, 6);  // create, write, sync, mkdir, sync root, rename, sync dir
  }
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(k);
    const std::string root = dir_ + "/crash" + std::to_string(k);
    absl::StatusOr<std::string> put;
    {
      FaultEnv env;
      auto store = *BlobStore::Open(root, &env);
      env.CrashAfter(k);
      put = store->Put(data);
      EXPECT_EQ(put.ok(), k == steps);
    }  // the "dead" process's writer could not clean up after itself
    auto reopened = *BlobStore::Open(root);  // restart over the real disk
    EXPECT_TRUE(fs::is_empty(root + "/tmp"));
    if (put.ok()) EXPECT_TRUE(reopened->Exists(sha));
    if (reopened->Exists(sha)) {
      EXPECT_EQ(*reopened->ReadAll(sha), data);
    }
    int files = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) files += e.is_regular_file();
    EXPECT_LE(files, 1);
  }
}

}  // namespace
}  // namespace trainyard::server
