// Backend (server business logic) driven directly: datasets, submit-time
// validation, the worker pool and job state machine, pause/resume exactness,
// crash and graceful-shutdown recovery, and inference on checkpoints.
#include "server/backend.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/backend_peer.h"

namespace trainyard::server {
namespace {

using ::testing::HasSubstr;

class BackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/backend_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ServerOptions Options(int workers = 2) {
    ServerOptions o;
    o.data_dir = dir_;
    o.workers = workers;
    o.cores = 2;
    o.default_threads = 1;
    o.durable_sync = false;
    return o;
  }

  std::unique_ptr<Backend> Open(ServerOptions o) {
    absl::StatusOr<std::unique_ptr<Backend>> b = Backend::Open(o);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }

  // Two features in [-1, 1], class 1 when x1 + x2 > 0: linearly separable.
  static std::string ClassCsv(int rows) {
    std::string text;
    uint64_t s = 12345;
    auto next = [&s] {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<double>(s >> 11) / static_cast<double>(1ull << 53) * 2 - 1;
    };
    for (int i = 0; i < rows; ++i) {
      const double a = next(), b = next();
      absl::StrAppend(&text, a, ",", b, ",", a + b > 0 ? 1 : 0, "\n");
    }
    return text;
  }

  static v1::DatasetHeader CsvHeader(const char* name = "points") {
    v1::DatasetHeader h;
    h.set_name(name);
    h.set_format(v1::CSV);
    // Column 2 by index; push_back sidesteps a GCC 12 -Wrestrict false
    // positive (bug 105329) on assigning a short literal.
    h.mutable_csv_options()->add_label_columns()->push_back('2');
    return h;
  }

  v1::Dataset Upload(Backend& b, const std::string& text) {
    absl::StatusOr<std::string> sha = BackendTestPeer::blobs(b).Put(text);
    EXPECT_TRUE(sha.ok());
    absl::StatusOr<v1::Dataset> d =
        b.CreateDataset(CsvHeader(), *sha, static_cast<int64_t>(text.size()));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : v1::Dataset();
  }

  // 2 -> 8 tanh -> dropout -> 2 logits, softmax cross-entropy, SGD.
  static v1::SubmitJobRequest Request(const std::string& dataset_id, int epochs) {
    v1::SubmitJobRequest r;
    r.set_dataset_id(dataset_id);
    v1::ModelSpec* m = r.mutable_model();
    m->set_input_dim(2);
    m->add_layers()->mutable_dense()->set_units(8);
    m->add_layers()->mutable_activation()->set_kind(v1::TANH);
    m->add_layers()->mutable_dropout()->set_rate(0.1f);
    m->add_layers()->mutable_dense()->set_units(2);
    v1::TrainingConfig* t = r.mutable_training();
    t->mutable_loss()->set_kind(v1::SOFTMAX_CROSS_ENTROPY);
    t->mutable_optimizer()->set_learning_rate(0.1);
    t->mutable_optimizer()->mutable_sgd()->set_momentum(0.9f);
    t->set_batch_size(16);
    t->set_epochs(epochs);
    t->set_seed(7);
    t->set_checkpoint_every_epochs(50);
    return r;
  }

  static bool WaitFor(const std::function<bool()>& done, double seconds = 30) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  }

  static v1::JobState State(Backend& b, const std::string& id) {
    absl::StatusOr<v1::Job> j = b.GetJob(id);
    return j.ok() ? j->state() : v1::JOB_STATE_UNSPECIFIED;
  }

  static bool WaitState(Backend& b, const std::string& id, v1::JobState s) {
    return WaitFor([&] { return State(b, id) == s; });
  }

  // Waits until the job is RUNNING and has finished `epochs` epochs.
  static bool WaitEpochs(Backend& b, const std::string& id, int epochs) {
    return WaitFor([&] {
      absl::StatusOr<v1::Job> j = b.GetJob(id);
      return j.ok() && j->state() == v1::RUNNING && j->progress().epoch() >= epochs;
    });
  }

  static v1::Checkpoint CheckpointWithReason(Backend& b, const std::string& job_id,
                                             v1::CheckpointReason reason) {
    absl::StatusOr<v1::ListCheckpointsResponse> list = b.ListCheckpoints(job_id);
    EXPECT_TRUE(list.ok()) << list.status();
    for (const v1::CheckpointInfo& info : list->checkpoints()) {
      if (info.reason() != reason) continue;
      absl::StatusOr<std::string> bytes = BackendTestPeer::blobs(b).ReadAll(info.id());
      EXPECT_TRUE(bytes.ok());
      absl::StatusOr<v1::Checkpoint> c = DecodeCheckpoint(*bytes);
      EXPECT_TRUE(c.ok()) << c.status();
      return *c;
    }
    ADD_FAILURE() << "no checkpoint with reason " << v1::CheckpointReason_Name(reason);
    return v1::Checkpoint();
  }

  // Runs the job config uninterrupted in a separate data dir: the reference
  // for the exact-resume tests.
  std::vector<float> ReferenceParams(int epochs) {
    ServerOptions o = Options(1);
    o.data_dir = dir_ + "/reference";
    std::filesystem::create_directories(o.data_dir);
    std::unique_ptr<Backend> b = Open(o);
    const v1::Dataset d = Upload(*b, ClassCsv(64));
    absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), epochs));
    EXPECT_TRUE(job.ok()) << job.status();
    b->StartWorkers();
    EXPECT_TRUE(WaitState(*b, job->id(), v1::SUCCEEDED));
    const v1::Checkpoint c = CheckpointWithReason(*b, job->id(), v1::FINAL);
    return {c.params().begin(), c.params().end()};
  }

  std::string dir_;
};

TEST_F(BackendTest, CreatesCsvDatasetAndReportsBadCsvByLineAndColumn) {
  auto b = Open(Options());
  const v1::Dataset d = Upload(*b, ClassCsv(50));
  EXPECT_EQ(d.num_samples(), 50);
  EXPECT_EQ(d.num_features(), 2);
  EXPECT_EQ(d.target_dim(), 1);
  EXPECT_EQ(d.num_classes(), 2);
  EXPECT_THAT(d.id(), HasSubstr("ds-"));

  const std::string bad = "1,2,0\n3,abc,1\n";
  absl::StatusOr<std::string> sha = BackendTestPeer::blobs(*b).Put(bad);
  ASSERT_TRUE(sha.ok());
  absl::StatusOr<v1::Dataset> r = b->CreateDataset(CsvHeader(), *sha, bad.size());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("line 2"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("column 2"));

  v1::DatasetHeader unnamed = CsvHeader("");
  r = b->CreateDataset(unnamed, *sha, bad.size());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("header.name"));
  v1::DatasetHeader no_format = CsvHeader();
  no_format.set_format(v1::DATASET_FORMAT_UNSPECIFIED);
  r = b->CreateDataset(no_format, *sha, bad.size());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("header.format"));
}

TEST_F(BackendTest, DeleteDatasetRefusedWhileAJobUsesItThenRemovesTheBlob) {
  auto b = Open(Options());
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), 5));
  ASSERT_TRUE(job.ok()) << job.status();
  absl::Status s = b->DeleteDataset(d.id());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr(job->id()));
  ASSERT_TRUE(b->CancelJob(job->id()).ok());
  EXPECT_TRUE(b->DeleteDataset(d.id()).ok());
  EXPECT_FALSE(BackendTestPeer::blobs(*b).Exists(d.sha256()));
  EXPECT_EQ(b->GetDataset(d.id()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BackendTest, SubmitValidationNamesTheField) {
  ServerOptions o = Options();
  o.max_params = 1000;
  auto b = Open(o);
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  struct Case {
    std::string what;
    std::function<void(v1::SubmitJobRequest&)> edit;
    absl::StatusCode code;
    std::string names;
  };
  const std::vector<Case> cases = {
      {"input width", [](auto& r) { r.mutable_model()->set_input_dim(3); },
       absl::StatusCode::kInvalidArgument, "dataset"},
      {"unknown dataset", [](auto& r) { r.set_dataset_id("ds-0000000000000000"); },
       absl::StatusCode::kNotFound, "dataset_id"},
      {"priority", [](auto& r) { r.set_priority(101); }, absl::StatusCode::kInvalidArgument,
       "priority"},
      {"threads", [](auto& r) { r.set_threads(3); }, absl::StatusCode::kInvalidArgument,
       "threads"},
      {"name", [](auto& r) { r.set_name(std::string(129, 'x')); },
       absl::StatusCode::kInvalidArgument, "name"},
      {"bad layer", [](auto& r) { r.mutable_model()->mutable_layers(0)->mutable_dense()->set_units(0); },
       absl::StatusCode::kInvalidArgument, "model.layers[0]"},
      {"too many params", [](auto& r) { r.mutable_model()->mutable_layers(0)->mutable_dense()->set_units(400); },
       absl::StatusCode::kInvalidArgument, "parameters"},
      {"epochs", [](auto& r) { r.mutable_training()->set_epochs(0); },
       absl::StatusCode::kInvalidArgument, "training.epochs"},
      {"no model", [](auto& r) { r.clear_model(); }, absl::StatusCode::kInvalidArgument,
       "model"},
      {"both checkpoints",
       [](auto& r) {
         r.set_init_from_checkpoint_id(std::string(64, 'a'));
         r.set_resume_from_checkpoint_id(std::string(64, 'a'));
       },
       absl::StatusCode::kInvalidArgument, "resume_from_checkpoint_id"},
      {"unknown resume checkpoint",
       [](auto& r) { r.set_resume_from_checkpoint_id(std::string(64, 'a')); },
       absl::StatusCode::kNotFound, "resume_from_checkpoint_id"},
      {"unknown init checkpoint",
       [](auto& r) { r.set_init_from_checkpoint_id(std::string(64, 'b')); },
       absl::StatusCode::kNotFound, "init_from_checkpoint_id"},
  };
  for (const Case& c : cases) {
    v1::SubmitJobRequest r = Request(d.id(), 5);
    c.edit(r);
    absl::StatusOr<v1::Job> job = b->SubmitJob(r);
    EXPECT_EQ(job.status().code(), c.code) << c.what << ": " << job.status();
    EXPECT_THAT(std::string(job.status().message()), HasSubstr(c.names)) << c.what;
  }
  absl::StatusOr<v1::ListJobsResponse> jobs = b->ListJobs({});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->jobs_size(), 0);
}

TEST_F(BackendTest, ValidateOnlyCreatesNothingAndRequestIdIsIdempotent) {
  auto b = Open(Options());
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  v1::SubmitJobRequest r = Request(d.id(), 5);
  r.set_validate_only(true);
  absl::StatusOr<v1::Job> dry = b->SubmitJob(r);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->id(), "");
  EXPECT_EQ(dry->state(), v1::QUEUED);
  EXPECT_EQ(dry->threads(), 1);
  EXPECT_EQ(dry->progress().total_steps(), 5 * 4);
  EXPECT_EQ(b->ListJobs({})->jobs_size(), 0);

  r.set_validate_only(false);
  r.set_request_id("req-1");
  absl::StatusOr<v1::Job> first = b->SubmitJob(r);
  absl::StatusOr<v1::Job> second = b->SubmitJob(r);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->id(), second->id());
  EXPECT_EQ(b->ListJobs({})->jobs_size(), 1);
  EXPECT_EQ(first->queue_position(), 0);
}

TEST_F(BackendTest, JobRunsToSucceededWithEpochEventsAndFinalCheckpoint) {
  auto b = Open(Options());
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), 5));
  ASSERT_TRUE(job.ok()) << job.status();
  b->StartWorkers();
  ASSERT_TRUE(WaitState(*b, job->id(), v1::SUCCEEDED));
  absl::StatusOr<v1::Job> done = b->GetJob(job->id());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->progress().epoch(), 5);
  EXPECT_EQ(done->progress().step(), 20);
  EXPECT_DOUBLE_EQ(done->progress().fraction(), 1.0);
  EXPECT_EQ(done->latest_metrics().epoch(), 5);
  EXPECT_EQ(done->queue_position(), -1);
  EXPECT_TRUE(done->has_start_time() && done->has_end_time());
  absl::StatusOr<v1::CheckpointInfo> final_ckpt = b->GetCheckpoint(done->latest_checkpoint_id());
  ASSERT_TRUE(final_ckpt.ok()) << final_ckpt.status();
  EXPECT_EQ(final_ckpt->reason(), v1::FINAL);
  EXPECT_EQ(final_ckpt->step(), 20);
  EXPECT_EQ(final_ckpt->num_features(), 2);
  EXPECT_EQ(final_ckpt->num_outputs(), 2);

  absl::StatusOr<std::vector<v1::JobEvent>> events =
      BackendTestPeer::store(*b).ReadEvents(job->id(), 0, 1000);
  ASSERT_TRUE(events.ok());
  int epochs = 0;
  std::vector<v1::JobState> states;
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].seq(), static_cast<int64_t>(i) + 1);
    if ((*events)[i].has_epoch_metrics()) ++epochs;
    if ((*events)[i].has_state_change()) states.push_back((*events)[i].state_change().to());
  }
  EXPECT_EQ(epochs, 5);
  EXPECT_EQ(states, (std::vector<v1::JobState>{v1::QUEUED, v1::RUNNING, v1::SUCCEEDED}));
  EXPECT_EQ(done->last_event_seq(), static_cast<int64_t>(events->size()));
  EXPECT_EQ(CheckpointWithReason(*b, job->id(), v1::FINAL).dataset_sha256(), d.sha256());
}

TEST_F(BackendTest, TwoJobsRunAtOnceOnTwoWorkersAndCancelStopsThem) {
  auto b = Open(Options(2));
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> a = b->SubmitJob(Request(d.id(), 100000));
  absl::StatusOr<v1::Job> c = b->SubmitJob(Request(d.id(), 100000));
  ASSERT_TRUE(a.ok() && c.ok());
  b->StartWorkers();
  EXPECT_TRUE(WaitFor(
      [&] { return State(*b, a->id()) == v1::RUNNING && State(*b, c->id()) == v1::RUNNING; }));
  ASSERT_TRUE(b->CancelJob(a->id()).ok());
  ASSERT_TRUE(b->CancelJob(c->id()).ok());
  EXPECT_TRUE(WaitState(*b, a->id(), v1::CANCELLED));
  EXPECT_TRUE(WaitState(*b, c->id(), v1::CANCELLED));
  absl::StatusOr<v1::Job> again = b->CancelJob(a->id());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()),
              HasSubstr("is CANCELLED; only QUEUED, RUNNING or PAUSED jobs can be cancelled"));
}

TEST_F(BackendTest, QueuedJobsCancelPauseResumeAndQueueOrder) {
  ServerOptions o = Options(1);
  o.max_queued_jobs = 3;
  auto b = Open(o);
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> low = b->SubmitJob(Request(d.id(), 5));
  v1::SubmitJobRequest urgent = Request(d.id(), 5);
  urgent.set_priority(10);
  absl::StatusOr<v1::Job> high = b->SubmitJob(urgent);
  absl::StatusOr<v1::Job> third = b->SubmitJob(Request(d.id(), 5));
  ASSERT_TRUE(low.ok() && high.ok() && third.ok());
  EXPECT_EQ(b->GetJob(high->id())->queue_position(), 0);
  EXPECT_EQ(b->GetJob(low->id())->queue_position(), 1);
  EXPECT_EQ(b->GetJob(third->id())->queue_position(), 2);
  absl::StatusOr<v1::Job> over = b->SubmitJob(Request(d.id(), 5));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);

  absl::StatusOr<v1::Job> cancelled = b->CancelJob(third->id());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  absl::StatusOr<v1::Job> paused = b->PauseJob(low->id());
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused->state(), v1::PAUSED);
  EXPECT_EQ(paused->queue_position(), -1);
  EXPECT_EQ(b->PauseJob(low->id()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(b->ResumeJob(high->id()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(b->ResumeJob(third->id()).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<v1::Job> resumed = b->ResumeJob(low->id());
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->state(), v1::QUEUED);
  EXPECT_EQ(resumed->queue_position(), 1);
  EXPECT_EQ(b->GetJob("job-zz").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->GetJob("job-0000000000000000").status().code(), absl::StatusCode::kNotFound);

  v1::ListJobsRequest only_cancelled;
  only_cancelled.add_states(v1::CANCELLED);
  absl::StatusOr<v1::ListJobsResponse> list = b->ListJobs(only_cancelled);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->jobs_size(), 1);
  EXPECT_EQ(list->jobs(0).id(), third->id());
}

TEST_F(BackendTest, PauseThenResumeGivesBitIdenticalParams) {
  const int kEpochs = 1500;
  const std::vector<float> reference = ReferenceParams(kEpochs);
  auto b = Open(Options(1));
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), kEpochs));
  ASSERT_TRUE(job.ok());
  b->StartWorkers();
  ASSERT_TRUE(WaitEpochs(*b, job->id(), 3));
  ASSERT_TRUE(b->PauseJob(job->id()).ok());
  ASSERT_TRUE(WaitState(*b, job->id(), v1::PAUSED));
  absl::StatusOr<v1::Job> paused = b->GetJob(job->id());
  absl::StatusOr<v1::CheckpointInfo> pause_ckpt = b->GetCheckpoint(paused->latest_checkpoint_id());
  ASSERT_TRUE(pause_ckpt.ok());
  // A pause on an epoch boundary saves the same bytes as that epoch's periodic
  // checkpoint; the content-addressed row keeps the first reason. The step
  // check below still ties the checkpoint to the pause position.
  EXPECT_TRUE(pause_ckpt->reason() == v1::PAUSE || pause_ckpt->reason() == v1::PERIODIC)
      << v1::CheckpointReason_Name(pause_ckpt->reason());
  EXPECT_LT(pause_ckpt->step(), kEpochs * 4);
  EXPECT_EQ(paused->progress().step(), pause_ckpt->step());
  ASSERT_TRUE(b->ResumeJob(job->id()).ok());
  ASSERT_TRUE(WaitState(*b, job->id(), v1::SUCCEEDED));
  const v1::Checkpoint final_ckpt = CheckpointWithReason(*b, job->id(), v1::FINAL);
  EXPECT_EQ(std::vector<float>(final_ckpt.params().begin(), final_ckpt.params().end()),
            reference);
}

TEST_F(BackendTest, CrashMidTrainingRequeuesOnReopenAndFinishesExactly) {
  const int kEpochs = 1500;
  const std::vector<float> reference = ReferenceParams(kEpochs);
  std::string id;
  {
    auto b = Open(Options(1));
    const v1::Dataset d = Upload(*b, ClassCsv(64));
    absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), kEpochs));
    ASSERT_TRUE(job.ok());
    id = job->id();
    b->StartWorkers();
    // Past the first periodic checkpoint (every 50 epochs).
    ASSERT_TRUE(WaitEpochs(*b, id, 60));
  }  // destroyed without Shutdown: a crash
  auto b = Open(Options(1));
  absl::StatusOr<v1::Job> requeued = b->GetJob(id);
  ASSERT_TRUE(requeued.ok());
  EXPECT_EQ(requeued->state(), v1::QUEUED);
  EXPECT_EQ(requeued->queue_position(), 0);
  absl::StatusOr<v1::CheckpointInfo> periodic = b->GetCheckpoint(requeued->latest_checkpoint_id());
  ASSERT_TRUE(periodic.ok());
  EXPECT_EQ(periodic->reason(), v1::PERIODIC);
  b->StartWorkers();
  ASSERT_TRUE(WaitState(*b, id, v1::SUCCEEDED));
  const v1::Checkpoint final_ckpt = CheckpointWithReason(*b, id, v1::FINAL);
  EXPECT_EQ(std::vector<float>(final_ckpt.params().begin(), final_ckpt.params().end()),
            reference);

  absl::StatusOr<std::vector<v1::JobEvent>> events =
      BackendTestPeer::store(*b).ReadEvents(id, 0, 100000);
  ASSERT_TRUE(events.ok());
  bool restart_seen = false;
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].seq(), static_cast<int64_t>(i) + 1);
    const v1::JobEvent& e = (*events)[i];
    if (e.has_state_change() && e.state_change().reason() == "server restart") {
      restart_seen = true;
      EXPECT_EQ(e.state_change().from(), v1::RUNNING);
      EXPECT_EQ(e.state_change().to(), v1::QUEUED);
    }
  }
  EXPECT_TRUE(restart_seen);
}

TEST_F(BackendTest, GracefulShutdownCheckpointsAndResumesExactly) {
  const int kEpochs = 1500;
  const std::vector<float> reference = ReferenceParams(kEpochs);
  std::string id;
  {
    auto b = Open(Options(1));
    const v1::Dataset d = Upload(*b, ClassCsv(64));
    absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), kEpochs));
    ASSERT_TRUE(job.ok());
    id = job->id();
    b->StartWorkers();
    ASSERT_TRUE(WaitEpochs(*b, id, 3));
    b->Shutdown(absl::Seconds(20));
    EXPECT_TRUE(b->shutting_down());
    absl::StatusOr<v1::Job> after = b->GetJob(id);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->state(), v1::QUEUED);
    absl::StatusOr<v1::CheckpointInfo> ckpt = b->GetCheckpoint(after->latest_checkpoint_id());
    ASSERT_TRUE(ckpt.ok());
    // A shutdown that lands exactly on an epoch boundary saves the same bytes
    // as that epoch's periodic checkpoint, and the content-addressed row keeps
    // the first reason. Either way the resumed run must end bit-identical.
    EXPECT_TRUE(ckpt->reason() == v1::SHUTDOWN || ckpt->reason() == v1::PERIODIC)
        << v1::CheckpointReason_Name(ckpt->reason());
    EXPECT_EQ(b->SubmitJob(Request(d.id(), 5)).status().code(), absl::StatusCode::kUnavailable);
  }
  auto b = Open(Options(1));
  b->StartWorkers();
  ASSERT_TRUE(WaitState(*b, id, v1::SUCCEEDED));
  const v1::Checkpoint final_ckpt = CheckpointWithReason(*b, id, v1::FINAL);
  EXPECT_EQ(std::vector<float>(final_ckpt.params().begin(), final_ckpt.params().end()),
            reference);
}

// A checkpoint that does not fit the job when the worker resumes it fails the
// job, and the error names where the checkpoint came from: the job's own
// newest checkpoint, which its submitter never set, or the submitted resume.
TEST_F(BackendTest, WorkerResumeRefusalNamesTheCheckpointsField) {
  std::string ckpt_id;
  std::string dataset_id;
  {
    auto b = Open(Options(1));
    const v1::Dataset d = Upload(*b, ClassCsv(64));
    dataset_id = d.id();
    absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), 2));
    ASSERT_TRUE(job.ok()) << job.status();
    b->StartWorkers();
    ASSERT_TRUE(WaitState(*b, job->id(), v1::SUCCEEDED));
    ckpt_id = b->GetJob(job->id())->latest_checkpoint_id();
    ASSERT_FALSE(ckpt_id.empty());
    b->Shutdown(absl::Seconds(20));
  }
  auto b = Open(Options(1));
  // Wider than the checkpoint's model: 2x9 + 9 + 9x2 + 2 = 47 parameters, not 42.
  v1::SubmitJobRequest wider = Request(dataset_id, 2);
  wider.mutable_model()->mutable_layers(0)->mutable_dense()->set_units(9);
  absl::StatusOr<v1::Job> own = b->SubmitJob(wider);
  absl::StatusOr<v1::Job> submitted = b->SubmitJob(wider);
  ASSERT_TRUE(own.ok()) << own.status();
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  // Queued, not yet taken: point them at the checkpoint as a paused job's
  // record, and a submitted resume's, would.
  auto point = [&](const std::string& id, bool as_own) {
    absl::StatusOr<v1::Job> updated = BackendTestPeer::records(*b).Update(
        id,
        [&](v1::Job& job) {
          if (as_own) {
            job.set_latest_checkpoint_id(ckpt_id);
          } else {
            job.set_resume_from_checkpoint_id(ckpt_id);
          }
          return absl::OkStatus();
        },
        "test");
    EXPECT_TRUE(updated.ok()) << updated.status();
  };
  point(own->id(), true);
  point(submitted->id(), false);
  b->StartWorkers();
  ASSERT_TRUE(WaitState(*b, own->id(), v1::FAILED));
  ASSERT_TRUE(WaitState(*b, submitted->id(), v1::FAILED));
  const v1::ErrorInfo own_error = b->GetJob(own->id())->error();
  EXPECT_EQ(own_error.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(own_error.message(),
            "latest_checkpoint_id: checkpoint: params has 42 values, the model needs 47");
  EXPECT_EQ(b->GetJob(submitted->id())->error().message(),
            "resume_from_checkpoint_id: checkpoint: params has 42 values, the model needs 47");
}

TEST_F(BackendTest, PredictAndEvaluateOnTheFinalCheckpoint) {
  auto b = Open(Options());
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), 40));
  ASSERT_TRUE(job.ok());
  b->StartWorkers();
  ASSERT_TRUE(WaitState(*b, job->id(), v1::SUCCEEDED));
  const std::string ckpt = b->GetJob(job->id())->latest_checkpoint_id();

  v1::PredictRequest p;
  p.set_checkpoint_id(ckpt);
  for (auto [x, y] : {std::pair{0.8f, 0.7f}, std::pair{-0.9f, -0.6f}}) {
    v1::Row* row = p.add_rows();
    row->add_values(x);
    row->add_values(y);
  }
  absl::StatusOr<v1::PredictResponse> r = b->Predict(p);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outputs_size(), 2);
  EXPECT_EQ(r->outputs(0).values_size(), 2);
  EXPECT_EQ(r->stddev_size(), 0);
  ASSERT_EQ(r->predicted_class_size(), 2);
  EXPECT_EQ(r->predicted_class(0), 1);
  EXPECT_EQ(r->predicted_class(1), 0);
  ASSERT_EQ(r->probabilities_size(), 2);
  EXPECT_NEAR(r->probabilities(0).values(0) + r->probabilities(0).values(1), 1.0, 1e-6);
  EXPECT_GT(r->probabilities(0).values(1), 0.5);

  v1::PredictRequest flat;
  flat.set_checkpoint_id(ckpt);
  for (float v : {0.8f, 0.7f, -0.9f, -0.6f}) flat.add_flat(v);
  flat.set_num_rows(2);
  flat.set_mc_samples(50);
  absl::StatusOr<v1::PredictResponse> mc = b->Predict(flat);
  ASSERT_TRUE(mc.ok()) << mc.status();
  ASSERT_EQ(mc->stddev_size(), 2);
  EXPECT_GT(mc->stddev(0).values(0) + mc->stddev(1).values(0), 0.0);

  v1::PredictRequest bad = p;
  bad.mutable_rows(1)->add_values(1);
  EXPECT_EQ(b->Predict(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b->Predict(bad).status().message()), HasSubstr("rows[1]"));
  bad = p;
  bad.set_mc_samples(1001);
  EXPECT_THAT(std::string(b->Predict(bad).status().message()), HasSubstr("mc_samples"));
  bad = p;
  bad.add_flat(1);
  EXPECT_EQ(b->Predict(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = p;
  bad.set_checkpoint_id(std::string(64, 'c'));
  EXPECT_EQ(b->Predict(bad).status().code(), absl::StatusCode::kNotFound);

  v1::EvaluateRequest e;
  e.set_checkpoint_id(ckpt);
  e.set_dataset_id(d.id());
  absl::StatusOr<v1::EvaluateResponse> ev = b->Evaluate(e);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->num_samples(), 64);
  EXPECT_GT(ev->accuracy(), 0.85);
  EXPECT_EQ(ev->mse(), -1);
  EXPECT_EQ(ev->mae(), -1);
}

TEST_F(BackendTest, ImportCheckpointAndServerInfo) {
  auto b = Open(Options());
  absl::StatusOr<std::string> junk = BackendTestPeer::blobs(*b).Put("not a checkpoint at all");
  ASSERT_TRUE(junk.ok());
  EXPECT_EQ(b->ImportCheckpoint(*junk).status().code(), absl::StatusCode::kInvalidArgument);

  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), 2));
  ASSERT_TRUE(job.ok());
  b->StartWorkers();
  ASSERT_TRUE(WaitState(*b, job->id(), v1::SUCCEEDED));
  v1::Checkpoint c = CheckpointWithReason(*b, job->id(), v1::FINAL);
  c.set_dataset_sha256(std::string(64, 'd'));  // different bytes, a new id
  absl::StatusOr<std::string> sha =
      BackendTestPeer::blobs(*b).Put(EncodeCheckpoint(c).value());
  ASSERT_TRUE(sha.ok());
  absl::StatusOr<v1::CheckpointInfo> info = b->ImportCheckpoint(*sha);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->reason(), v1::UPLOADED);
  EXPECT_EQ(info->job_id(), "");
  absl::StatusOr<v1::ListCheckpointsResponse> uploaded = b->ListCheckpoints("");
  ASSERT_TRUE(uploaded.ok());
  ASSERT_EQ(uploaded->checkpoints_size(), 1);
  EXPECT_EQ(uploaded->checkpoints(0).id(), *sha);

  // Fine-tuning from the imported checkpoint is accepted.
  v1::SubmitJobRequest tune = Request(d.id(), 2);
  tune.set_init_from_checkpoint_id(*sha);
  tune.set_validate_only(true);
  EXPECT_TRUE(b->SubmitJob(tune).ok());

  const v1::ServerInfo s = b->GetServerInfo();
  EXPECT_EQ(s.version(), "0.1.0");
  EXPECT_EQ(s.workers(), 2);
  EXPECT_EQ(s.cores(), 2);
  EXPECT_EQ(s.scalar_type(), "float32");
  EXPECT_EQ(s.limits().max_queued_jobs(), 1000);
}

TEST_F(BackendTest, AHeldJobRecordLockBlocksNeitherOtherJobsNorTheScheduler) {
  auto b = Open(Options(1));
  const v1::Dataset d = Upload(*b, ClassCsv(64));
  absl::StatusOr<v1::Job> slow = b->SubmitJob(Request(d.id(), 5));
  ASSERT_TRUE(slow.ok()) << slow.status();
  ASSERT_TRUE(b->PauseJob(slow->id()).ok());  // waiting, not in the queue
  absl::StatusOr<v1::Job> other = b->SubmitJob(Request(d.id(), 5));
  ASSERT_TRUE(other.ok()) << other.status();

  // As if a store write for `slow` were stuck in an fsync: its record lock
  // is held for the whole of this block.
  std::optional<JobRecords::Lock> held;
  held.emplace(BackendTestPeer::records(*b).LockJob(slow->id()));
  std::promise<void> done;
  std::thread t([&] {
    EXPECT_EQ(State(*b, slow->id()), v1::PAUSED);  // reading it needs no lock
    absl::StatusOr<v1::Job> got = b->GetJob(other->id());
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->queue_position(), 0);
    absl::StatusOr<v1::ListJobsResponse> list = b->ListJobs({});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->jobs_size(), 2);
    absl::StatusOr<v1::Job> third = b->SubmitJob(Request(d.id(), 5));
    ASSERT_TRUE(third.ok()) << third.status();
    EXPECT_EQ(third->queue_position(), 1);
    absl::StatusOr<v1::Job> cancelled = b->CancelJob(third->id());
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    EXPECT_EQ(cancelled->state(), v1::CANCELLED);
    // A worker takes, runs and finishes another job meanwhile.
    b->StartWorkers();
    EXPECT_TRUE(WaitState(*b, other->id(), v1::SUCCEEDED));
    done.set_value();
  });
  const bool finished =
      done.get_future().wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(finished) << "work on other jobs waited for one job's record lock";
  held.reset();
  t.join();

  // Once released, the slow job's own changes go through again.
  ASSERT_TRUE(b->ResumeJob(slow->id()).ok());
  EXPECT_TRUE(WaitState(*b, slow->id(), v1::SUCCEEDED));
  // The worker writes SUCCEEDED under the job's lock and lets go just after,
  // so the table empties a moment after the state shows.
  EXPECT_TRUE(WaitFor([&] { return BackendTestPeer::records(*b).locks_in_use() == 0; }));
}

TEST(ServerOptionsTest, FinalizeFillsDefaultsAndNamesTheFlag) {
  ServerOptions o;
  o.cores = 8;
  o.default_threads = 2;
  ASSERT_TRUE(o.Finalize().ok());
  EXPECT_EQ(o.workers, 4);
  ServerOptions bad;
  bad.workers = -1;
  EXPECT_THAT(std::string(bad.Finalize().message()), HasSubstr("--workers"));
}

}  // namespace
}  // namespace trainyard::server
