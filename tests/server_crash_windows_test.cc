// Issue 9, class 2: a crash between the writes of one state transition. The
// process "dies" (tests/testing/fault_env.h: CrashAfter(k), every file
// operation fails from then on, under SQLite through server/sqlite_vfs.cc)
// after each possible number k of file operations of the transition; the
// data dir is then reopened over the real disk, as after a restart, and must
// hold all of the transition or none of it:
// - SubmitJob: a job row never exists without its first event, and that
//   event is the "submitted" QUEUED state change (before: a crash between
//   the row's commit and the event's left a job whose log started at
//   QUEUED->RUNNING).
// - CheckpointRecorder::Save: a checkpoint row exists exactly when the job
//   points at it and its CheckpointSaved event is logged (before: three
//   commits, so a listed checkpoint the job did not resume from); the blob
//   a crash leaves without its row is removed by the start-up sweep
//   (class 3, server/blob_sweep.h).
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/trainer.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "server/blob_store.h"
#include "server/blob_sweep.h"
#include "server/checkpoint_recorder.h"
#include "server/event_log.h"
#include "server/job_records.h"
#include "server/sqlite_metadata_store.h"
#include "tests/testing/backend_peer.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/specs.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using ::trainyard::testing::BlobsDataset;
using ::trainyard::testing::FaultEnv;
using ::trainyard::testing::FromJson;

class CrashWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/crash_windows_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A fresh data dir under dir_ named `name`.
  std::string NewDir(const std::string& name) {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    return d;
  }
  std::string dir_;
};

// ------------------------------------------------------------ SubmitJob

ServerOptions Options(const std::string& dir, Env* env) {
  ServerOptions o;
  o.data_dir = dir;
  o.workers = 1;
  o.cores = 2;
  o.default_threads = 1;
  o.durable_sync = false;
  o.env = env;
  return o;
}

// A data dir with one dataset; returns its id.
std::string SetUpDataDir(const std::string& dir) {
  auto b = Backend::Open(Options(dir, Env::Default()));
  EXPECT_TRUE(b.ok()) << b.status();
  if (!b.ok()) return "";
  std::string csv;
  for (int i = 0; i < 32; ++i) absl::StrAppend(&csv, i % 7 - 3, ",", i % 5 - 2, ",", i % 2, "\n");
  absl::StatusOr<std::string> sha = BackendTestPeer::blobs(**b).Put(csv);
  EXPECT_TRUE(sha.ok());
  v1::DatasetHeader h;
  h.set_name("points");
  h.set_format(v1::CSV);
  h.mutable_csv_options()->add_label_columns()->push_back('2');
  absl::StatusOr<v1::Dataset> d = (*b)->CreateDataset(h, *sha, static_cast<int64_t>(csv.size()));
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? d->id() : "";
}

v1::SubmitJobRequest Request(const std::string& dataset_id) {
  v1::SubmitJobRequest r;
  r.set_dataset_id(dataset_id);
  v1::ModelSpec* m = r.mutable_model();
  m->set_input_dim(2);
  m->add_layers()->mutable_dense()->set_units(2);
  v1::TrainingConfig* t = r.mutable_training();
  t->mutable_loss()->set_kind(v1::SOFTMAX_CROSS_ENTROPY);
  t->mutable_optimizer()->set_learning_rate(0.1);
  t->mutable_optimizer()->mutable_sgd();
  t->set_batch_size(16);
  t->set_epochs(1);
  t->set_seed(7);
  return r;
}

TEST_F(CrashWindowTest, SubmitCrashLeavesTheJobWithItsQueuedEventOrNoJob) {
  int64_t steps = 0;
  {
    const std::string dir = NewDir("count");
    const std::string dataset = SetUpDataDir(dir);
    FaultEnv counter;
    auto b = Backend::Open(Options(dir, &counter));
    ASSERT_TRUE(b.ok()) << b.status();
    const int64_t before = counter.mutating_ops();
    ASSERT_TRUE((*b)->SubmitJob(Request(dataset)).ok());
    steps = counter.mutating_ops() - before;
    ASSERT_GE(steps, 2);  // at least a WAL write and its fsync
  }
  int with_job = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("crash after ", k, " of ", steps, " file operations"));
    const std::string dir = NewDir(absl::StrCat("crash", k));
    const std::string dataset = SetUpDataDir(dir);
    absl::StatusOr<v1::Job> submitted;
    {
      FaultEnv env;
      auto b = Backend::Open(Options(dir, &env));
      ASSERT_TRUE(b.ok()) << b.status();
      env.CrashAfter(k);
      submitted = (*b)->SubmitJob(Request(dataset));
    }  // the "dead" process: closing writes nothing either
    auto b = Backend::Open(Options(dir, Env::Default()));  // the restart
    ASSERT_TRUE(b.ok()) << b.status();
    MetadataStore& store = BackendTestPeer::store(**b);
    const std::vector<v1::Job> jobs = store.ListJobs({}).value().jobs;
    ASSERT_LE(jobs.size(), 1u);
    if (submitted.ok()) {
      ASSERT_EQ(jobs.size(), 1u);  // acknowledged: durable
    }
    for (const v1::Job& job : jobs) {
      ++with_job;
      const std::vector<v1::JobEvent> events = store.ReadEvents(job.id(), 0, 100).value();
      ASSERT_FALSE(events.empty()) << "job row without its first event";
      ASSERT_TRUE(events[0].has_state_change());
      EXPECT_EQ(events[0].state_change().from(), v1::JOB_STATE_UNSPECIFIED);
      EXPECT_EQ(events[0].state_change().to(), v1::QUEUED);
      EXPECT_EQ(events[0].state_change().reason(), "submitted");
      // The API view agrees after recovery.
      absl::StatusOr<v1::Job> api = (*b)->GetJob(job.id());
      ASSERT_TRUE(api.ok());
      EXPECT_EQ(api->state(), v1::QUEUED);
      EXPECT_EQ(api->last_event_seq(), 1);
    }
  }
  EXPECT_GE(with_job, 1);  // the last k at least
}

// ------------------------------------------------- CheckpointRecorder::Save

// A real checkpoint of a small classifier.
v1::Checkpoint TrainedCheckpoint() {
  v1::ModelSpec spec = FromJson<v1::ModelSpec>(R"({"inputDim": 3,
    "layers": [{"dense": {"units": 4}}, {"activation": {"kind": "RELU"}},
               {"dense": {"units": 3}}]})");
  v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"learningRate": 0.05, "sgd": {}},
    "batchSize": 8, "seed": 3, "epochs": 1})");
  auto trainer = Trainer::Create(spec, config, BlobsDataset(24, 3, 1), nullptr, TrainerOptions{1});
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  TrainingObserver quiet;
  EXPECT_TRUE((*trainer)->Run(&quiet, nullptr).ok());
  return (*trainer)->MakeCheckpoint();
}

constexpr char kJob[] = "job-00000000000000aa";

std::unique_ptr<MetadataStore> OpenStore(const std::string& dir, Env* env) {
  MetadataStoreOptions o;
  o.synchronous_full = false;
  o.env = env;
  auto store = OpenSqliteMetadataStore(dir + "/trainyard.db", o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// A RUNNING job with its two state changes.
void SetUpRunningJob(const std::string& dir) {
  auto store = OpenStore(dir, Env::Default());
  ASSERT_NE(store, nullptr);
  EventLog events(store.get());
  JobRecords records(store.get(), &events);
  v1::Job job;
  job.set_id(kJob);
  job.set_state(v1::QUEUED);
  v1::JobEvent submitted;
  submitted.mutable_state_change()->set_to(v1::QUEUED);
  StoreWrite write;
  write.insert_jobs.push_back(job);
  ASSERT_TRUE(events.AppendWith(kJob, submitted, write).ok());
  ASSERT_TRUE(records
                  .Update(
                      kJob,
                      [](v1::Job& j) {
                        j.set_state(v1::RUNNING);
                        return absl::OkStatus();
                      },
                      "started")
                  .ok());
}

struct Recorder {
  Recorder(const std::string& dir, Env* env)
      : store(OpenStore(dir, env)),
        blobs(*BlobStore::Open(dir + "/blobs", env)),
        events(store.get()),
        records(store.get(), &events),
        recorder(store.get(), blobs.get(), &events, &records, Options()) {}
  static CheckpointRecorderOptions Options() {
    CheckpointRecorderOptions o;
    o.max_params = 1'000'000;
    o.max_checkpoint_bytes = 1 << 20;
    return o;
  }
  std::unique_ptr<MetadataStore> store;
  std::unique_ptr<BlobStore> blobs;
  EventLog events;
  JobRecords records;
  CheckpointRecorder recorder;
};

int BlobFiles(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/blobs")) {
    n += e.is_regular_file() && e.path().parent_path().filename() != "tmp";
  }
  return n;
}

TEST_F(CrashWindowTest, CheckpointCrashLeavesRowPointerAndEventTogetherOrNone) {
  const v1::Checkpoint ckpt = TrainedCheckpoint();
  int64_t steps = 0;
  {
    const std::string dir = NewDir("count");
    SetUpRunningJob(dir);
    FaultEnv counter;
    Recorder r(dir, &counter);
    const int64_t before = counter.mutating_ops();
    ASSERT_TRUE(r.recorder.Save(kJob, ckpt, v1::PERIODIC).ok());
    steps = counter.mutating_ops() - before;
    ASSERT_GE(steps, 8);  // the blob's steps, then the one transaction
  }
  int orphans_swept = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("crash after ", k, " of ", steps, " file operations"));
    const std::string dir = NewDir(absl::StrCat("crash", k));
    SetUpRunningJob(dir);
    absl::StatusOr<v1::CheckpointInfo> saved;
    {
      FaultEnv env;
      Recorder r(dir, &env);
      env.CrashAfter(k);
      saved = r.recorder.Save(kJob, ckpt, v1::PERIODIC);
      EXPECT_EQ(saved.ok(), k == steps) << saved.status();
    }
    auto store = OpenStore(dir, Env::Default());  // the restart
    ASSERT_NE(store, nullptr);
    const v1::Job job = store->GetJob(kJob).value();
    const std::vector<v1::CheckpointInfo> rows = store->ListCheckpoints(kJob).value();
    int saved_events = 0;
    const std::vector<v1::JobEvent> events = store->ReadEvents(kJob, 0, 100).value();
    for (const v1::JobEvent& e : events) {
      saved_events += e.has_checkpoint_saved();
    }
    ASSERT_LE(rows.size(), 1u);
    if (rows.empty()) {
      EXPECT_EQ(job.latest_checkpoint_id(), "");
      EXPECT_EQ(saved_events, 0);
    } else {
      EXPECT_EQ(job.latest_checkpoint_id(), rows[0].id()) << "a checkpoint the job does not point to";
      EXPECT_EQ(saved_events, 1);
    }
    EXPECT_EQ(*store->MaxEventSeq(kJob), 2 + static_cast<int64_t>(rows.size()));
    // The sweep removes a blob the crash left without its row, keeps the rest.
    const int before = BlobFiles(dir);
    const std::vector<std::string> removed = SweepOrphanBlobs(Env::Default(), dir + "/blobs", store.get());
    EXPECT_EQ(BlobFiles(dir), static_cast<int>(rows.size()));
    EXPECT_EQ(before - BlobFiles(dir), static_cast<int>(removed.size()));
    orphans_swept += static_cast<int>(removed.size());
  }
  EXPECT_GE(orphans_swept, 1);  // some k crashed between the blob and its row
}

}  // namespace
}  // namespace trainyard::server
