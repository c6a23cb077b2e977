// The two transitions of issue 9's class 2 and the data dirs they run in,
// shared by the in-process crash-window test (tests/server_crash_windows_test.cc,
// FaultEnv::CrashAfter) and the real-process one
// (tests/server_crash_windows_process_test.cc, FaultEnv::KillAfter in a
// forked child), so both crash exactly the same writes:
// - SubmitJob on a data dir with one small CSV dataset (SetUpDataDir,
//   SubmitRequest): the job row and its first event;
// - CheckpointRecorder::Save of a real checkpoint (TrainedCheckpoint) for a
//   RUNNING job (SetUpRunningJob, CheckpointRig): the blob, then its row, the
//   job's latest pointer and CheckpointSaved.
// Set-up failures are reported through gtest (EXPECT/ASSERT), so a forked
// child can see whether its own set-up added a failure.
#ifndef TRAINYARD_TESTS_TESTING_CRASH_WINDOWS_H_
#define TRAINYARD_TESTS_TESTING_CRASH_WINDOWS_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/trainer.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "server/blob_store.h"
#include "server/checkpoint_recorder.h"
#include "server/event_log.h"
#include "server/job_records.h"
#include "server/sqlite_metadata_store.h"
#include "tests/testing/backend_peer.h"
#include "tests/testing/specs.h"

namespace trainyard::server::crash_windows {

// Backend options for a crash-window data dir: one worker (never started by
// these tests), no fsync (a process crash keeps what reached the kernel).
inline ServerOptions Options(const std::string& dir, Env* env) {
  ServerOptions o;
  o.data_dir = dir;
  o.workers = 1;
  o.cores = 2;
  o.default_threads = 1;
  o.durable_sync = false;
  o.env = env;
  return o;
}

// A data dir with one dataset (32 rows of 2 features and a class label),
// written over the real Env; returns its id ("" after a reported failure).
inline std::string SetUpDataDir(const std::string& dir) {
  auto b = Backend::Open(Options(dir, Env::Default()));
  EXPECT_TRUE(b.ok()) << b.status();
  if (!b.ok()) return "";
  std::string csv;
  for (int i = 0; i < 32; ++i) absl::StrAppend(&csv, i % 7 - 3, ",", i % 5 - 2, ",", i % 2, "\n");
  absl::StatusOr<std::string> sha = BackendTestPeer::blobs(**b).Put(csv);
  EXPECT_TRUE(sha.ok()) << sha.status();
  if (!sha.ok()) return "";
  v1::DatasetHeader h;
  h.set_name("points");
  h.set_format(v1::CSV);
  h.mutable_csv_options()->add_label_columns()->push_back('2');
  absl::StatusOr<v1::Dataset> d = (*b)->CreateDataset(h, *sha, static_cast<int64_t>(csv.size()));
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? d->id() : "";
}

// A valid one-epoch job on SetUpDataDir's dataset.
inline v1::SubmitJobRequest SubmitRequest(const std::string& dataset_id) {
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

// A real checkpoint of a small classifier.
inline v1::Checkpoint TrainedCheckpoint() {
  v1::ModelSpec spec = ::trainyard::testing::FromJson<v1::ModelSpec>(R"({"inputDim": 3,
    "layers": [{"dense": {"units": 4}}, {"activation": {"kind": "RELU"}},
               {"dense": {"units": 3}}]})");
  v1::TrainingConfig config = ::trainyard::testing::FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"learningRate": 0.05, "sgd": {}},
    "batchSize": 8, "seed": 3, "epochs": 1})");
  auto trainer = Trainer::Create(spec, config, ::trainyard::testing::BlobsDataset(24, 3, 1),
                                 nullptr, TrainerOptions{1});
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return {};
  TrainingObserver quiet;
  EXPECT_TRUE((*trainer)->Run(&quiet, nullptr).ok());
  return (*trainer)->MakeCheckpoint();
}

// The job SetUpRunningJob makes.
inline constexpr char kJob[] = "job-00000000000000aa";

// The data dir's metadata store over `env` (nullptr after a reported failure).
inline std::unique_ptr<MetadataStore> OpenStore(const std::string& dir, Env* env) {
  MetadataStoreOptions o;
  o.synchronous_full = false;
  o.env = env;
  auto store = OpenSqliteMetadataStore(dir + "/trainyard.db", o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// kJob, RUNNING, with its two state changes (seqs 1 and 2).
inline void SetUpRunningJob(const std::string& dir) {
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

// The components a checkpoint save goes through, over `env`, on a data dir.
struct CheckpointRig {
  CheckpointRig(const std::string& dir, Env* env)
      : store(OpenStore(dir, env)),
        blobs(*BlobStore::Open(dir + "/blobs", env)),
        events(store.get()),
        records(store.get(), &events),
        recorder(store.get(), blobs.get(), &events, &records, RecorderOptions()) {}
  static CheckpointRecorderOptions RecorderOptions() {
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

// Blob files under the data dir's blob store (its tmp/ left out).
inline int BlobFiles(const std::string& dir) {
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/blobs")) {
    n += e.is_regular_file() && e.path().parent_path().filename() != "tmp";
  }
  return n;
}

}  // namespace trainyard::server::crash_windows

#endif  // TRAINYARD_TESTS_TESTING_CRASH_WINDOWS_H_
