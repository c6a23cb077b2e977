// The stores over a failing file system (tests/testing/fault_env.h).
// Blob store: a full disk, a failed fsync and a crash at every step of a Put
// each leave either the complete blob under its name or nothing, and no temp
// file once the writer is gone or the store is reopened. SQLite metadata
// store (through server/sqlite_vfs.h): a full disk or failed fsync fails the
// write with the right code, leaves the old state readable, and the store
// works again once the fault clears.
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "core/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/blob_store.h"
#include "server/sqlite_metadata_store.h"
#include "tests/testing/fault_env.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::trainyard::testing::FaultEnv;

class StoreFaultTest : public ::testing::Test {
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

TEST_F(StoreFaultTest, FullDiskDuringUploadNamesTheDiskAndLeavesNothing) {
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

TEST_F(StoreFaultTest, SizeLimitIsTellableFromAFullDisk) {
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

TEST_F(StoreFaultTest, FailedFsyncMakesNothingVisible) {
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

TEST_F(StoreFaultTest, FailedRenameOrDirectorySyncIsReported) {
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

TEST_F(StoreFaultTest, CrashAtEveryStepOfAPutLeavesTheBlobWholeOrAbsent) {
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
    if (put.ok()) {
      EXPECT_TRUE(reopened->Exists(sha));
    }
    if (reopened->Exists(sha)) {
      EXPECT_EQ(*reopened->ReadAll(sha), data);
    }
    int files = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) files += e.is_regular_file();
    EXPECT_LE(files, 1);
  }
}


// ------------------------------------------------------- metadata store

v1::Job MakeJob(const std::string& id) {
  v1::Job job;
  job.set_id(id);
  job.set_state(v1::QUEUED);
  job.mutable_create_time()->set_seconds(1000);
  return job;
}

std::vector<v1::JobEvent> Events(const std::string& job, int64_t first, int64_t last) {
  std::vector<v1::JobEvent> events;
  for (int64_t seq = first; seq <= last; ++seq) {
    v1::JobEvent e;
    e.set_job_id(job);
    e.set_seq(seq);
    e.mutable_log()->set_text("line " + std::to_string(seq));
    events.push_back(e);
  }
  return events;
}

std::unique_ptr<MetadataStore> OpenSqlite(const std::string& dir, Env* env) {
  MetadataStoreOptions options;
  options.env = env;  // synchronous_full stays on: commits fsync the WAL
  auto store = OpenSqliteMetadataStore(dir + "/trainyard.db", options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST_F(StoreFaultTest, SqliteFullDiskIsResourceExhaustedAndChangesNothing) {
  FaultEnv env;
  auto db = OpenSqlite(dir_, &env);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->InsertJob(MakeJob("job-1")).ok());
  ASSERT_TRUE(db->AppendEvents("job-1", Events("job-1", 1, 3)).ok());

  env.SetDiskBudget(0);
  absl::Status insert = db->InsertJob(MakeJob("job-2"));
  EXPECT_EQ(insert.code(), absl::StatusCode::kResourceExhausted) << insert;
  EXPECT_THAT(std::string(insert.message()), HasSubstr("database or disk is full"));
  absl::Status append = db->AppendEvents("job-1", Events("job-1", 4, 40));
  EXPECT_EQ(append.code(), absl::StatusCode::kResourceExhausted) << append;

  // The old state reads back whole; nothing of the failed writes shows.
  EXPECT_EQ(db->GetJob("job-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*db->MaxEventSeq("job-1"), 3);
  EXPECT_EQ(db->ReadEvents("job-1", 0, 100)->size(), 3u);

  env.Heal();  // space freed: the same writes go through
  ASSERT_TRUE(db->InsertJob(MakeJob("job-2")).ok());
  ASSERT_TRUE(db->AppendEvents("job-1", Events("job-1", 4, 40)).ok());
  db.reset();
  auto reopened = OpenSqlite(dir_, Env::Default());
  EXPECT_TRUE(reopened->GetJob("job-2").ok());
  EXPECT_EQ(*reopened->MaxEventSeq("job-1"), 40);
}

TEST_F(StoreFaultTest, SqliteFailedWriteOrFsyncIsInternalAndTheStoreRecovers) {
  FaultEnv env;
  auto db = OpenSqlite(dir_, &env);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->AppendEvents("job-1", Events("job-1", 1, 2)).ok());
  int64_t seq = 2;
  for (FileOp op : {FileOp::kWrite, FileOp::kSync}) {
    SCOPED_TRACE(FileOpName(op));
    env.FailNth(op, 1, EIO);
    absl::Status s = db->AppendEvents("job-1", Events("job-1", seq + 1, seq + 5));
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_EQ(*db->MaxEventSeq("job-1"), seq);  // the failed batch is not visible
    ASSERT_TRUE(db->AppendEvents("job-1", Events("job-1", seq + 1, seq + 5)).ok());
    seq += 5;
    EXPECT_EQ(*db->MaxEventSeq("job-1"), seq);
  }
}

TEST_F(StoreFaultTest, SqliteCrashAtEveryWriteKeepsEachTransactionWholeOrAbsent) {
  auto write = [](MetadataStore& db) {
    absl::Status s = db.InsertJob(MakeJob("job-2"));
    if (s.ok()) s = db.AppendEvents("job-1", Events("job-1", 4, 40));
    return s;
  };
  auto setup = [](const std::string& dir) {
    auto db = OpenSqlite(dir, Env::Default());
    ASSERT_TRUE(db->InsertJob(MakeJob("job-1")).ok());
    ASSERT_TRUE(db->AppendEvents("job-1", Events("job-1", 1, 3)).ok());
  };
  int64_t steps = 0;
  {
    const std::string dir = dir_ + "/count";
    fs::create_directory(dir);
    setup(dir);
    FaultEnv counter;
    auto db = OpenSqlite(dir, &counter);
    const int64_t before = counter.mutating_ops();
    ASSERT_TRUE(write(*db).ok());
    steps = counter.mutating_ops() - before;
    ASSERT_GE(steps, 4);  // at least a WAL write and fsync per transaction
  }
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(k);
    const std::string dir = dir_ + "/crash" + std::to_string(k);
    fs::create_directory(dir);
    setup(dir);
    absl::Status s;
    {
      FaultEnv env;
      auto db = OpenSqlite(dir, &env);
      env.CrashAfter(k);
      s = write(*db);
      EXPECT_EQ(s.ok(), k == steps) << s;
    }  // closing the "dead" connection can write nothing either
    auto db = OpenSqlite(dir, Env::Default());  // restart: SQLite recovers the WAL
    const bool job2 = db->GetJob("job-2").ok();
    const int64_t max_seq = *db->MaxEventSeq("job-1");
    EXPECT_TRUE(max_seq == 3 || max_seq == 40) << max_seq;  // a batch is all or nothing
    EXPECT_EQ(db->ReadEvents("job-1", 0, 100)->size(), static_cast<size_t>(max_seq));
    if (max_seq == 40) {
      EXPECT_TRUE(job2);  // the transactions commit in order
    }
    if (s.ok()) {
      EXPECT_EQ(max_seq, 40);
    }
    EXPECT_TRUE(db->GetJob("job-1").ok());
  }
}

// Issue 9: a read-only store is the operator's to fix and says which file:
// FAILED_PRECONDITION, not INTERNAL; a full one says "disk full at" the
// database. Both work again once the fault clears.
TEST_F(StoreFaultTest, ReadOnlyOrFullStorageNamesTheFile) {
  FaultEnv env;
  auto db = OpenSqlite(dir_, &env);
  ASSERT_NE(db, nullptr);
  env.FailNth(FileOp::kWrite, 1, EROFS);
  absl::Status ro = db->InsertJob(MakeJob("job-1"));
  EXPECT_EQ(ro.code(), absl::StatusCode::kFailedPrecondition) << ro;
  EXPECT_THAT(std::string(ro.message()), HasSubstr(dir_ + "/trainyard.db"));
  env.SetDiskBudget(0);
  absl::Status full = db->InsertJob(MakeJob("job-1"));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_THAT(std::string(full.message()), HasSubstr("disk full at " + dir_ + "/trainyard.db"));
  env.Heal();
  EXPECT_TRUE(db->InsertJob(MakeJob("job-1")).ok());

  auto blobs = *BlobStore::Open(dir_ + "/blobs", &env);
  env.FailNth(FileOp::kCreate, 1, EROFS);
  absl::Status blob_ro = blobs->Put("bytes").status();
  EXPECT_EQ(blob_ro.code(), absl::StatusCode::kFailedPrecondition) << blob_ro;
  EXPECT_THAT(std::string(blob_ro.message()), HasSubstr("read-only file system at " + dir_));
  env.SetDiskBudget(0);
  absl::Status blob_full = blobs->Put("bytes").status();
  EXPECT_EQ(blob_full.code(), absl::StatusCode::kResourceExhausted) << blob_full;
  EXPECT_THAT(std::string(blob_full.message()), HasSubstr("disk full at " + dir_));
  env.Heal();
  EXPECT_TRUE(blobs->Put("bytes").ok());
}

}  // namespace
}  // namespace trainyard::server
