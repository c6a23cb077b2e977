// Backend under the interleavings that the split into components opened up,
// driven deterministically: the test plays the worker (takes a job from the
// scheduler and starts it through JobRunner::Start) and runs code inside
// SubmitJob between its row insert and its queueing, instead of racing
// threads. Each test fails on the code before its fix (see the comments).
#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "tests/testing/backend_peer.h"

namespace trainyard::server {
namespace {

using ::testing::HasSubstr;

class InterleavingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/interleavings_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ServerOptions o;
    o.data_dir = dir_;
    o.workers = 1;
    o.cores = 2;
    o.default_threads = 1;
    o.durable_sync = false;
    absl::StatusOr<std::unique_ptr<Backend>> b = Backend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status();
    b_ = std::move(*b);  // workers never started: the test is the worker
    std::string csv;
    for (int i = 0; i < 64; ++i) absl::StrAppend(&csv, i % 7 - 3, ",", i % 5 - 2, ",", i % 2, "\n");
    absl::StatusOr<std::string> sha = BackendTestPeer::blobs(*b_).Put(csv);
    ASSERT_TRUE(sha.ok());
    v1::DatasetHeader h;
    h.set_name("points");
    h.set_format(v1::CSV);
    h.mutable_csv_options()->add_label_columns()->push_back('2');
    absl::StatusOr<v1::Dataset> d =
        b_->CreateDataset(h, *sha, static_cast<int64_t>(csv.size()));
    ASSERT_TRUE(d.ok()) << d.status();
    dataset_id_ = d->id();
  }
  void TearDown() override {
    b_.reset();
    std::filesystem::remove_all(dir_);
  }

  v1::SubmitJobRequest Request() const {
    v1::SubmitJobRequest r;
    r.set_dataset_id(dataset_id_);
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

  std::string Submit() {
    absl::StatusOr<v1::Job> job = b_->SubmitJob(Request());
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->id() : "";
  }

  v1::JobState State(const std::string& id) { return b_->GetJob(id).value().state(); }

  std::vector<v1::JobState> StateChanges(const std::string& id) {
    std::vector<v1::JobState> to;
    absl::StatusOr<std::vector<v1::JobEvent>> events =
        BackendTestPeer::store(*b_).ReadEvents(id, 0, 1000);
    EXPECT_TRUE(events.ok());
    if (!events.ok()) return to;
    for (const v1::JobEvent& e : *events) {
      if (e.has_state_change()) to.push_back(e.state_change().to());
    }
    return to;
  }

  // Runs `call` on another thread and returns once it has finished or is
  // blocked waiting for `job_id`'s record lock (which the caller holds).
  template <typename Call>
  std::thread RunUntilDoneOrBlocked(const std::string& job_id, std::atomic<bool>* done,
                                    Call call) {
    std::thread t([done, call] {
      call();
      *done = true;
    });
    JobRecords& records = BackendTestPeer::records(*b_);
    while (!done->load() && records.LockUsers(job_id) < 2) std::this_thread::yield();
    return t;
  }

  // Makes the store's writes that `when` matches fail ("BEFORE INSERT ON
  // events", ...), through a trigger added on a second connection.
  void InjectStoreFailure(const std::string& when) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/trainyard.db").c_str(), &db), SQLITE_OK);
    const std::string sql =
        absl::StrCat("CREATE TRIGGER injected_", ++triggers_, " ", when,
                     " BEGIN SELECT RAISE(ABORT, 'injected store failure'); END;");
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  JobScheduler& scheduler() { return BackendTestPeer::scheduler(*b_); }
  JobRunner& runner() { return BackendTestPeer::runner(*b_); }

  std::string dir_;
  std::unique_ptr<Backend> b_;
  std::string dataset_id_;
  int triggers_ = 0;
};

// 1a. Taken from the queue but its RUNNING row not yet written: a cancel
// must cancel it through its row (before: it only signalled the run and
// replied QUEUED; the worker then started nothing and the job stayed QUEUED).
TEST_F(InterleavingTest, CancelOfATakenButNotStartedJobCancelsIt) {
  const std::string id = Submit();
  std::optional<JobScheduler::Taken> taken = scheduler().TakeNext();
  ASSERT_TRUE(taken.has_value());
  absl::StatusOr<v1::Job> cancelled = b_->CancelJob(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_EQ(cancelled->queue_position(), -1);
  EXPECT_FALSE(runner().Start(*taken));  // the worker's write sees CANCELLED
  EXPECT_EQ(State(id), v1::CANCELLED);
  EXPECT_TRUE(scheduler().AwaitIdle(absl::Now()));
  EXPECT_EQ(StateChanges(id), (std::vector<v1::JobState>{v1::QUEUED, v1::CANCELLED}));
}

// 1a, the review's interleaving: paused while taken, then cancelled. Before,
// the pause replied QUEUED, the cancel replied OK with the job PAUSED, and
// the job stayed PAUSED.
TEST_F(InterleavingTest, PauseThenCancelOfATakenJobEndCancelled) {
  const std::string id = Submit();
  std::optional<JobScheduler::Taken> taken = scheduler().TakeNext();
  ASSERT_TRUE(taken.has_value());
  absl::StatusOr<v1::Job> paused = b_->PauseJob(id);
  ASSERT_TRUE(paused.ok()) << paused.status();
  EXPECT_EQ(paused->state(), v1::PAUSED);
  absl::StatusOr<v1::Job> cancelled = b_->CancelJob(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_FALSE(runner().Start(*taken));
  EXPECT_EQ(State(id), v1::CANCELLED);
  EXPECT_TRUE(scheduler().AwaitIdle(absl::Now()));
}

// 1a: paused while taken, then resumed. Before, the resume failed with
// "PAUSED jobs can be resumed" while the job was PAUSED. Now it is queued
// again and the worker that took it starts it, once.
TEST_F(InterleavingTest, PauseThenResumeOfATakenJobRunsItOnce) {
  const std::string id = Submit();
  std::optional<JobScheduler::Taken> taken = scheduler().TakeNext();
  ASSERT_TRUE(taken.has_value());
  ASSERT_EQ(b_->PauseJob(id).value().state(), v1::PAUSED);
  absl::StatusOr<v1::Job> resumed = b_->ResumeJob(id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), v1::QUEUED);
  EXPECT_EQ(resumed->queue_position(), 0);
  EXPECT_TRUE(runner().Start(*taken));
  EXPECT_EQ(State(id), v1::RUNNING);
  EXPECT_TRUE(scheduler().IsRunning(id));
  EXPECT_EQ(scheduler().queued(), 0);  // no second copy for another worker
  // Running now: a cancel signals the run instead of changing the row.
  absl::StatusOr<v1::Job> cancel = b_->CancelJob(id);
  ASSERT_TRUE(cancel.ok());
  EXPECT_EQ(cancel->state(), v1::RUNNING);
  EXPECT_TRUE(taken->token->cancel_requested());
  EXPECT_EQ(StateChanges(id), (std::vector<v1::JobState>{v1::QUEUED, v1::PAUSED, v1::QUEUED,
                                                        v1::RUNNING}));
}

// Status: a store error when starting a taken job. Before, the job was
// dropped silently: QUEUED in the store, in no queue, until a restart.
TEST_F(InterleavingTest, AStoreErrorWhenStartingFailsTheJobVisibly) {
  const std::string id = Submit();
  InjectStoreFailure(absl::StrCat("BEFORE UPDATE ON jobs WHEN NEW.state = ", v1::RUNNING));
  std::optional<JobScheduler::Taken> taken = scheduler().TakeNext();
  ASSERT_TRUE(taken.has_value());
  EXPECT_FALSE(runner().Start(*taken));
  absl::StatusOr<v1::Job> job = b_->GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::FAILED);
  EXPECT_THAT(job->error().message(), HasSubstr("injected store failure"));
  EXPECT_TRUE(scheduler().AwaitIdle(absl::Now()));
}

// Status: the RUNNING event cannot be written. Issue 9 made the row and its
// event one transaction, so the row cannot say RUNNING either: the job is not
// run, stays QUEUED (neither can FAILED be written) and goes back into the
// queue, to run once the store works; its log never disagrees with its row.
// (Before issue 9 the row said RUNNING without its event; before that, no
// worker ran it.)
TEST_F(InterleavingTest, AStartWhoseEventCannotBeWrittenChangesNothing) {
  const std::string id = Submit();
  InjectStoreFailure("BEFORE INSERT ON events");
  std::optional<JobScheduler::Taken> taken = scheduler().TakeNext();
  ASSERT_TRUE(taken.has_value());
  EXPECT_FALSE(runner().Start(*taken));
  EXPECT_EQ(State(id), v1::QUEUED);
  EXPECT_FALSE(scheduler().IsRunning(id));
  EXPECT_EQ(StateChanges(id), (std::vector<v1::JobState>{v1::QUEUED}));
  EXPECT_EQ(scheduler().queued(), 1);
}

// 1b. A cancel by someone who learnt the id from the row while SubmitJob
// was still writing (ListJobs) waits until the job is queued. Before, it
// ran in between: its CANCELLED event came before "submitted", the
// cancelled job went into the queue anyway, and the submitter replied QUEUED.
TEST_F(InterleavingTest, ACancelDuringSubmitWaitsForTheJobToBeQueued) {
  std::atomic<bool> cancel_done{false};
  std::thread canceller;
  absl::StatusOr<v1::Job> cancelled = absl::UnknownError("not called");
  std::string id;
  BackendTestPeer::SetAfterSubmitInsert(*b_, [&](const v1::Job& job) {
    id = job.id();
    canceller = RunUntilDoneOrBlocked(id, &cancel_done, [&] { cancelled = b_->CancelJob(id); });
  });
  absl::StatusOr<v1::Job> submitted = b_->SubmitJob(Request());
  BackendTestPeer::SetAfterSubmitInsert(*b_, nullptr);
  canceller.join();
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(submitted->state(), v1::QUEUED);
  EXPECT_EQ(submitted->queue_position(), 0);
  EXPECT_EQ(submitted->last_event_seq(), 1);
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_EQ(scheduler().queued(), 0);  // no phantom entry
  EXPECT_EQ(StateChanges(id), (std::vector<v1::JobState>{v1::QUEUED, v1::CANCELLED}));
}

// 1b/1d. A retry with the same request_id that finds the row while SubmitJob
// is still writing replies with the queued job (before: queue_position -1
// and last_event_seq 0 for a QUEUED job).
TEST_F(InterleavingTest, ARetryDuringSubmitRepliesWithTheQueuedJob) {
  v1::SubmitJobRequest request = Request();
  request.set_request_id("retry-me");
  std::atomic<bool> retry_done{false};
  std::thread retrier;
  absl::StatusOr<v1::Job> retried = absl::UnknownError("not called");
  BackendTestPeer::SetAfterSubmitInsert(*b_, [&](const v1::Job& job) {
    retrier = RunUntilDoneOrBlocked(job.id(), &retry_done,
                                    [&] { retried = b_->SubmitJob(request); });
  });
  absl::StatusOr<v1::Job> submitted = b_->SubmitJob(request);
  BackendTestPeer::SetAfterSubmitInsert(*b_, nullptr);
  retrier.join();
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->id(), submitted->id());
  EXPECT_EQ(retried->state(), v1::QUEUED);
  EXPECT_EQ(retried->queue_position(), 0);
  EXPECT_EQ(retried->last_event_seq(), 1);
  EXPECT_EQ(scheduler().queued(), 1);
}

// Status: the "submitted" event cannot be written. The row and its event
// are one transaction (issue 9), so the submission fails whole: no row, no
// queue entry, and a retry once the store works creates the job. (Before,
// the row was queued without its first event.)
TEST_F(InterleavingTest, ASubmitWhoseEventCannotBeWrittenLeavesNoJob) {
  InjectStoreFailure("BEFORE INSERT ON events");
  absl::StatusOr<v1::Job> job = b_->SubmitJob(Request());
  EXPECT_FALSE(job.ok());  // the trigger's ABORT reads as a constraint failure
  EXPECT_EQ(scheduler().queued(), 0);
  EXPECT_TRUE(BackendTestPeer::store(*b_).ListJobs({}).value().jobs.empty());
}

// 1d. ResumeJob's reply is the state its write left.
TEST_F(InterleavingTest, ResumeRepliesWithItsQueuePositionAndEvent) {
  const std::string first = Submit();
  const std::string id = Submit();
  ASSERT_EQ(b_->PauseJob(id).value().state(), v1::PAUSED);
  absl::StatusOr<v1::Job> resumed = b_->ResumeJob(id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->queue_position(), 1);  // behind `first`
  EXPECT_EQ(resumed->last_event_seq(), 3);  // submitted, paused, resumed
  EXPECT_EQ(b_->GetJob(first).value().queue_position(), 0);
}

// 1e. No workers start after Shutdown (before: StartWorkers started them).
TEST_F(InterleavingTest, StartWorkersAfterShutdownStartsNone) {
  b_->Shutdown(absl::Seconds(1));
  b_->StartWorkers();
  EXPECT_EQ(BackendTestPeer::worker_threads(*b_), 0);
}

}  // namespace
}  // namespace trainyard::server
