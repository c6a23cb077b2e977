// Blob store and metadata store: what the service relies on when it stores
// uploads, lists resources and restarts on the same --data-dir.
#include <stdlib.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/blob_store.h"
#include "server/ids.h"
#include "server/metadata_store.h"
#include "server/sqlite_metadata_store.h"
#include "server/status_util.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  std::string tmpl = fs::temp_directory_path().string() + "/trainyard_store_XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

class TempDir {
 public:
  TempDir() : path_(MakeTempDir()) {}
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ------------------------------------------------------------ status_util

TEST(StatusUtil, CodesAndMessagesMapOneToOne) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status s(static_cast<absl::StatusCode>(code), "msg " + std::to_string(code));
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "msg " + std::to_string(code));
    EXPECT_EQ(FromGrpcStatus(g), s);
    EXPECT_EQ(FromErrorInfo(ToErrorInfo(s)), s);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToErrorInfo(absl::OkStatus()).code(), 0);
}

TEST(Ids, HaveTheDocumentedShapeAndDiffer) {
  std::string a = NewJobId(), b = NewJobId();
  EXPECT_TRUE(IsJobId(a)) << a;
  EXPECT_NE(a, b);
  EXPECT_TRUE(IsDatasetId(NewDatasetId()));
  EXPECT_FALSE(IsJobId("job-../../x"));
  EXPECT_FALSE(IsJobId(NewDatasetId()));
  EXPECT_FALSE(IsDatasetId("ds-0123456789ABCDEF"));  // upper case
}

// ------------------------------------------------------------- blob store

TEST(BlobStore, PutNamesBlobBySha256AndDeduplicates) {
  TempDir dir;
  auto store = BlobStore::Open(dir.path() + "/blobs");
  ASSERT_TRUE(store.ok()) << store.status();
  // sha256("abc"), FIPS 180-2 example.
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  auto sha = (*store)->Put("abc");
  ASSERT_TRUE(sha.ok()) << sha.status();
  EXPECT_EQ(*sha, abc);
  EXPECT_TRUE(fs::exists(dir.path() + "/blobs/ba/" + abc));
  auto again = (*store)->Put("abc");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, abc);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path() + "/blobs")) {
    files += e.is_regular_file();
  }
  EXPECT_EQ(files, 1);  // stored once, no temp file left behind
  EXPECT_EQ(*(*store)->ReadAll(abc), "abc");
}

TEST(BlobStore, ReadRangeServesResumableDownloads) {
  TempDir dir;
  auto store = *BlobStore::Open(dir.path());
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7);
  std::string sha = *store->Put(data);
  EXPECT_EQ(*store->Size(sha), 1000);
  EXPECT_EQ(*store->ReadRange(sha, 10, 5), data.substr(10, 5));
  EXPECT_EQ(*store->ReadRange(sha, 990, 100), data.substr(990));  // short at the end
  EXPECT_EQ(*store->ReadRange(sha, 1000, 100), "");               // exactly at the end
  EXPECT_EQ(store->ReadRange(sha, 1001, 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store->ReadRange(sha, -1, 1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(BlobStore, RejectsNamesThatAreNotSha256Hex) {
  TempDir dir;
  auto store = *BlobStore::Open(dir.path());
  ASSERT_TRUE(store->Put("x").ok());
  for (std::string bad : {std::string("../../etc/passwd"), std::string(64, 'A'),
                          std::string(63, 'a'), std::string(65, 'a'),
                          std::string(62, 'a') + "/.", std::string()}) {
    EXPECT_EQ(store->ReadAll(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store->Remove(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(store->Exists(bad));
  }
  EXPECT_EQ(store->ReadAll(std::string(64, 'a')).status().code(), absl::StatusCode::kNotFound);
}

TEST(BlobStore, WriterVerifiesHashEnforcesLimitAndCleansUp) {
  TempDir dir;
  auto store = *BlobStore::Open(dir.path());
  const std::string tmp = dir.path() + "/tmp";
  auto count = [&] { return std::distance(fs::directory_iterator(tmp), fs::directory_iterator()); };
  {
    auto w = *store->NewWriter();
    ASSERT_TRUE(w->Append("ab").ok());
    ASSERT_TRUE(w->Append("c").ok());
    EXPECT_EQ(count(), 1);  // in progress: only a temp file, no blob
    EXPECT_FALSE(store->Exists(Sha256Hex("abc")));
    auto sha = w->Commit(Sha256Hex("abc"));
    ASSERT_TRUE(sha.ok()) << sha.status();
    EXPECT_TRUE(store->Exists(*sha));
  }
  {
    auto w = *store->NewWriter();
    ASSERT_TRUE(w->Append("abd").ok());
    auto sha = w->Commit(Sha256Hex("abc"));
    EXPECT_EQ(sha.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(sha.status().message().find("sha256 mismatch"), std::string::npos);
    EXPECT_FALSE(store->Exists(Sha256Hex("abd")));
  }
  {
    auto w = *store->NewWriter(/*max_bytes=*/4);
    ASSERT_TRUE(w->Append("1234").ok());
    EXPECT_EQ(w->Append("5").code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(w->Commit().status().code(), absl::StatusCode::kResourceExhausted);
  }
  {
    auto w = *store->NewWriter();
    ASSERT_TRUE(w->Append("abandoned upload").ok());
  }  // destroyed without Commit: a cancelled stream
  EXPECT_EQ(count(), 0);
}

TEST(BlobStore, OpenSweepsTempFilesLeftByACrash) {
  TempDir dir;
  {
    auto store = *BlobStore::Open(dir.path());
    auto w = *store->NewWriter();
    ASSERT_TRUE(w->Append("half").ok());
    // Simulate a crash: the temp file survives the process.
    fs::copy_file(fs::directory_iterator(dir.path() + "/tmp")->path(),
                  dir.path() + "/tmp/crashed.tmp");
  }
  auto store = *BlobStore::Open(dir.path());
  EXPECT_TRUE(fs::is_empty(dir.path() + "/tmp"));
}

TEST(BlobStore, RemoveDeletesTheFile) {
  TempDir dir;
  auto store = *BlobStore::Open(dir.path());
  std::string sha = *store->Put("bytes");
  ASSERT_TRUE(store->Remove(sha).ok());
  EXPECT_FALSE(store->Exists(sha));
  EXPECT_EQ(store->Remove(sha).code(), absl::StatusCode::kNotFound);
}

// --------------------------------------------------------- metadata store

google::protobuf::Timestamp At(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

v1::Dataset MakeDataset(std::string id, std::string name, std::string sha, int64_t t) {
  v1::Dataset d;
  d.set_id(id);
  d.set_name(name);
  d.set_sha256(sha);
  d.set_num_samples(150);
  *d.mutable_created_at() = At(t);
  return d;
}

v1::Job MakeJob(std::string id, v1::JobState state, int64_t t, std::string dataset = "") {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  j.set_priority(static_cast<int>(t % 3));
  j.set_dataset_id(dataset);
  *j.mutable_create_time() = At(t);
  return j;
}

// The metadata store tests run against the MetadataStore interface, once per
// implementation: a new backend (PostgreSQL, ...) adds one StoreFactory to
// INSTANTIATE_TEST_SUITE_P below and must pass every TEST_P unchanged.
struct StoreFactory {
  std::string name;
  // Opens the store whose data lives in `dir`: the same dir again gives the
  // same data (a restart), a fresh dir an empty store.
  std::function<absl::StatusOr<std::unique_ptr<MetadataStore>>(const std::string& dir)> open;
};

StoreFactory SqliteFactory() {
  return {"sqlite", [](const std::string& dir) {
            MetadataStoreOptions options;
            options.synchronous_full = false;  // tests need no power-loss safety
            return OpenSqliteMetadataStore(dir + "/trainyard.db", options);
          }};
}

class MetadataStoreTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  std::unique_ptr<MetadataStore> OpenStore(const std::string& dir) {
    auto store = GetParam().open(dir);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
};

INSTANTIATE_TEST_SUITE_P(AllStores, MetadataStoreTest, ::testing::Values(SqliteFactory()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

TEST_P(MetadataStoreTest, DatasetsCrudAndLookups) {
  TempDir dir;
  auto db = OpenStore(dir.path());
  ASSERT_TRUE(db->InsertDataset(MakeDataset("ds-1", "iris", "aa", 100)).ok());
  ASSERT_TRUE(db->InsertDataset(MakeDataset("ds-2", "iris", "bb", 200)).ok());
  ASSERT_TRUE(db->InsertDataset(MakeDataset("ds-3", "xor", "aa", 300)).ok());
  EXPECT_EQ(db->InsertDataset(MakeDataset("ds-1", "x", "cc", 1)).code(),
            absl::StatusCode::kAlreadyExists);

  auto got = db->GetDataset("ds-2");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name(), "iris");
  EXPECT_EQ(got->num_samples(), 150);
  EXPECT_EQ(db->GetDataset("ds-9").status().code(), absl::StatusCode::kNotFound);

  auto by_sha = *db->FindDatasetsBySha256("aa");
  ASSERT_EQ(by_sha.size(), 2u);
  EXPECT_EQ(by_sha[0].id(), "ds-1");
  auto iris = *db->ListDatasets("iris", 0, "");
  ASSERT_EQ(iris.datasets.size(), 2u);
  EXPECT_EQ(iris.datasets[0].id(), "ds-2");  // newest first

  // Deleting one of two datasets sharing bytes keeps the blob.
  auto deleted = db->DeleteDataset("ds-1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->sha256, "aa");
  EXPECT_TRUE(deleted->blob_still_referenced);
  EXPECT_FALSE(db->DeleteDataset("ds-3")->blob_still_referenced);
  EXPECT_EQ(db->DeleteDataset("ds-3").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(MetadataStoreTest, DeleteDatasetRefusedWhileAnActiveJobUsesIt) {
  TempDir dir;
  auto db = OpenStore(dir.path());
  ASSERT_TRUE(db->InsertDataset(MakeDataset("ds-1", "iris", "aa", 1)).ok());
  v1::Job job = MakeJob("job-1", v1::RUNNING, 2, "ds-1");
  ASSERT_TRUE(db->InsertJob(job).ok());
  auto refused = db->DeleteDataset("ds-1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("job-1"), std::string::npos);
  EXPECT_TRUE(db->GetDataset("ds-1").ok());  // the refusal changed nothing
  job.set_state(v1::SUCCEEDED);
  ASSERT_TRUE(db->UpdateJob(job).ok());
  EXPECT_TRUE(db->DeleteDataset("ds-1").ok());
}

TEST_P(MetadataStoreTest, InsertJobChecksDatasetsAndRequestId) {
  TempDir dir;
  auto db = OpenStore(dir.path());
  absl::Status missing = db->InsertJob(MakeJob("job-1", v1::QUEUED, 1, "ds-none"));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("dataset_id"), std::string::npos);
  EXPECT_EQ(db->GetJob("job-1").status().code(), absl::StatusCode::kNotFound);

  v1::Job a = MakeJob("job-a", v1::QUEUED, 1);
  a.set_request_id("req-1");
  ASSERT_TRUE(db->InsertJob(a).ok());
  v1::Job b = MakeJob("job-b", v1::QUEUED, 2);
  b.set_request_id("req-1");
  EXPECT_EQ(db->InsertJob(b).code(), absl::StatusCode::kAlreadyExists);
  // Jobs without request_id never collide.
  ASSERT_TRUE(db->InsertJob(MakeJob("job-c", v1::QUEUED, 3)).ok());
  ASSERT_TRUE(db->InsertJob(MakeJob("job-d", v1::QUEUED, 4)).ok());

  auto found = *db->FindJobByRequestId("req-1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id(), "job-a");
  EXPECT_FALSE(db->FindJobByRequestId("req-2")->has_value());
  EXPECT_FALSE(db->FindJobByRequestId("")->has_value());
  EXPECT_EQ(db->UpdateJob(MakeJob("job-zzz", v1::RUNNING, 1)).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(MetadataStoreTest, ListJobsPagesNewestFirstAndFiltersByState) {
  TempDir dir;
  auto db = OpenStore(dir.path());
  // 25 jobs; several share a creation time so the id breaks ties.
  for (int i = 0; i < 25; ++i) {
    v1::JobState state = i % 3 == 0 ? v1::FAILED : (i % 3 == 1 ? v1::QUEUED : v1::RUNNING);
    char id[16];
    snprintf(id, sizeof id, "job-%02d", i);
    ASSERT_TRUE(db->InsertJob(MakeJob(id, state, 1000 + i / 2)).ok());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    JobQuery q;
    q.page_size = 10;
    q.page_token = token;
    auto page = db->ListJobs(q);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->jobs.size(), 10u);
    for (const auto& j : page->jobs) seen.push_back(j.id());
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    char id[16];
    snprintf(id, sizeof id, "job-%02d", 24 - i);
    EXPECT_EQ(seen[i], id);  // newest first, no gap, no repeat
  }

  JobQuery active;
  active.states = {v1::QUEUED, v1::RUNNING};
  auto page = *db->ListJobs(active);
  EXPECT_EQ(page.jobs.size(), 16u);
  for (const auto& j : page.jobs) EXPECT_NE(j.state(), v1::FAILED);
  EXPECT_TRUE(page.next_page_token.empty());
  auto recovering = *db->JobsInStates({v1::RUNNING});
  ASSERT_EQ(recovering.size(), 8u);
  EXPECT_EQ(recovering[0].id(), "job-02");  // oldest first for requeueing

  JobQuery bad;
  bad.page_token = "not a token";
  EXPECT_EQ(db->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

v1::JobEvent LogEvent(std::string job, int64_t seq, std::string text) {
  v1::JobEvent e;
  e.set_job_id(job);
  e.set_seq(seq);
  e.mutable_log()->set_text(text);
  return e;
}

TEST_P(MetadataStoreTest, EventsAppendInBatchesAndReadAfterSeq) {
  TempDir dir;
  auto db = OpenStore(dir.path());
  EXPECT_EQ(*db->MaxEventSeq("job-1"), 0);
  std::vector<v1::JobEvent> batch;
  for (int s = 1; s <= 10; ++s) batch.push_back(LogEvent("job-1", s, "line " + std::to_string(s)));
  ASSERT_TRUE(db->AppendEvents("job-1", batch).ok());
  ASSERT_TRUE(db->AppendEvents("job-2", {LogEvent("job-2", 1, "other")}).ok());
  EXPECT_EQ(*db->MaxEventSeq("job-1"), 10);

  auto after = *db->ReadEvents("job-1", 4, 3);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].seq(), 5);
  EXPECT_EQ(after[2].log().text(), "line 7");
  EXPECT_TRUE(db->ReadEvents("job-1", 10, 100)->empty());

  // A batch with one duplicate seq is rejected whole.
  absl::Status dup = db->AppendEvents("job-1", {LogEvent("job-1", 11, "new"),
                                                LogEvent("job-1", 10, "dup")});
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*db->MaxEventSeq("job-1"), 10);
  EXPECT_EQ(db->AppendEvents("job-1", {LogEvent("job-2", 11, "x")}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(MetadataStoreTest, CheckpointsPerJobByStep) {
  TempDir dir;
  auto db = OpenStore(dir.path());
  for (int step : {300, 100, 200}) {
    v1::CheckpointInfo c;
    c.set_id(std::string(63, 'a') + std::to_string(step / 100));
    c.set_sha256(c.id());
    c.set_job_id("job-1");
    c.set_step(step);
    c.set_epoch(step / 100);
    c.set_size_bytes(4096);
    c.set_reason(v1::PERIODIC);
    ASSERT_TRUE(db->InsertCheckpoint(c).ok());
    EXPECT_EQ(db->InsertCheckpoint(c).code(), absl::StatusCode::kAlreadyExists);
  }
  auto list = *db->ListCheckpoints("job-1");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].step(), 100);
  EXPECT_EQ(list[2].step(), 300);
  EXPECT_TRUE(db->ListCheckpoints("job-2")->empty());
  EXPECT_EQ(db->GetCheckpoint(list[1].id())->epoch(), 2);
  EXPECT_TRUE(*db->IsBlobReferenced(list[1].id()));
  ASSERT_TRUE(db->DeleteCheckpoint(list[1].id()).ok());
  EXPECT_FALSE(*db->IsBlobReferenced(list[1].id()));
  EXPECT_EQ(db->GetCheckpoint(list[1].id()).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(MetadataStoreTest, ReopeningTheSameDirectoryKeepsEverything) {
  TempDir dir;
  {
    auto db = OpenStore(dir.path());
    ASSERT_TRUE(db->InsertDataset(MakeDataset("ds-1", "iris", "aa", 1)).ok());
    v1::Job job = MakeJob("job-1", v1::RUNNING, 2, "ds-1");
    job.set_request_id("r");
    ASSERT_TRUE(db->InsertJob(job).ok());
    ASSERT_TRUE(db->AppendEvents("job-1", {LogEvent("job-1", 1, "a"),
                                           LogEvent("job-1", 2, "b")}).ok());
  }
  auto db = OpenStore(dir.path());
  EXPECT_EQ(db->GetDataset("ds-1")->name(), "iris");
  EXPECT_EQ(db->GetJob("job-1")->state(), v1::RUNNING);
  EXPECT_TRUE(db->FindJobByRequestId("r")->has_value());
  EXPECT_EQ(*db->MaxEventSeq("job-1"), 2);
  EXPECT_EQ(db->ReadEvents("job-1", 0, 10)->size(), 2u);
}

TEST(SqliteMetadataStore, RefusesADatabaseFromANewerServer) {
  TempDir dir;
  { ASSERT_TRUE(SqliteFactory().open(dir.path()).ok()); }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() + "/trainyard.db").c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
  }
  auto db = MetadataStore::Open(dir.path() + "/trainyard.db");
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(db.status().message().find("99"), std::string::npos);
}

}  // namespace
}  // namespace trainyard::server
