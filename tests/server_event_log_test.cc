// The event log as a watcher sees it: history then live, exact resume by seq
// (also across a restart), bounded memory for slow watchers, and a closed
// stream once the job ends.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/event_log.h"
#include "server/metadata_store.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using Poll = EventSubscription::Poll;

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/trainyard_events_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    OpenStore();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void OpenStore() {
    MetadataStoreOptions options;
    options.synchronous_full = false;
    store_ = *MetadataStore::Open(dir_ + "/trainyard.db", options);
  }

  std::string dir_;
  std::unique_ptr<MetadataStore> store_;
};

v1::JobEvent Log(std::string text) {
  v1::JobEvent e;
  e.mutable_log()->set_text(std::move(text));
  return e;
}

v1::JobEvent State(v1::JobState from, v1::JobState to) {
  v1::JobEvent e;
  e.mutable_state_change()->set_from(from);
  e.mutable_state_change()->set_to(to);
  return e;
}

// Plays the part of the WatchJob reactor: polls, and on kWait sleeps until
// on_ready fires.
class Watcher {
 public:
  Watcher(EventLog& log, const std::string& job, int64_t after_seq) {
    auto sub = log.Subscribe(job, after_seq, [this] {
      absl::MutexLock lock(&mu_);
      ++wakeups_;
    });
    EXPECT_TRUE(sub.ok()) << sub.status();
    sub_ = *std::move(sub);
  }

  // Reads until kEnd, or until `max` events, or until nothing arrives for
  // `idle`. Returns the events read.
  std::vector<std::shared_ptr<const v1::JobEvent>> Read(
      int max = 1 << 30, absl::Duration idle = absl::Seconds(10)) {
    std::vector<std::shared_ptr<const v1::JobEvent>> out;
    while (static_cast<int>(out.size()) < max) {
      int seen;
      {
        absl::MutexLock lock(&mu_);
        seen = wakeups_;
      }
      std::shared_ptr<const v1::JobEvent> e;
      auto poll = sub_->Next(&e);
      EXPECT_TRUE(poll.ok()) << poll.status();
      if (!poll.ok()) break;
      if (*poll == Poll::kEnd) {
        ended_ = true;
        break;
      }
      if (*poll == Poll::kEvent) {
        out.push_back(e);
        continue;
      }
      absl::MutexLock lock(&mu_);
      auto woken = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wakeups_ > seen; };
      if (!mu_.AwaitWithTimeout(absl::Condition(&woken), idle)) break;
    }
    return out;
  }

  EventSubscription& sub() { return *sub_; }
  bool ended() const { return ended_; }
  int wakeups() {
    absl::MutexLock lock(&mu_);
    return wakeups_;
  }

 private:
  absl::Mutex mu_;
  int wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ = false;
  std::unique_ptr<EventSubscription> sub_;
};

void ExpectSeqs(const std::vector<std::shared_ptr<const v1::JobEvent>>& events, int64_t first,
                int64_t last) {
  ASSERT_EQ(static_cast<int64_t>(events.size()), last - first + 1);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]->seq(), first + static_cast<int64_t>(i));
  }
}

TEST_F(EventLogTest, HistoryThenLiveEvents) {
  EventLog log(store_.get());
  for (int i = 1; i <= 5; ++i) {
    auto seq = log.Append("job-1", Log("line " + std::to_string(i)));
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, i);
  }
  Watcher w(log, "job-1", 2);
  auto history = w.Read(3);
  ExpectSeqs(history, 3, 5);
  EXPECT_EQ(history[0]->log().text(), "line 3");
  EXPECT_EQ(history[0]->job_id(), "job-1");
  EXPECT_TRUE(history[0]->has_time());
  EXPECT_TRUE(w.Read(1, absl::Milliseconds(20)).empty());  // caught up: kWait

  ASSERT_TRUE(log.Append("job-1", Log("live")).ok());
  EXPECT_EQ(w.wakeups(), 1);
  auto live = w.Read(1);
  ExpectSeqs(live, 6, 6);
  EXPECT_EQ(live[0]->log().text(), "live");
}

TEST_F(EventLogTest, ReconnectWithLastSeqHasNoGapAndNoDuplicate) {
  EventLog log(store_.get());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.Append("job-1", Log("a")).ok());
  int64_t last;
  {
    Watcher w(log, "job-1", 0);
    ExpectSeqs(w.Read(4), 1, 4);
    last = w.sub().last_seq();
  }  // disconnect
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.Append("job-1", Log("b")).ok());
  Watcher again(log, "job-1", last);
  ExpectSeqs(again.Read(16, absl::Milliseconds(50)), 5, 20);
}

TEST_F(EventLogTest, SeqsContinueAfterRestartAndResumeIsExact) {
  {
    EventLog log(store_.get());
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(log.Append("job-1", Log("before")).ok());
  }
  store_.reset();
  OpenStore();  // a new process on the same data dir
  EventLog log(store_.get());
  EXPECT_EQ(*log.LastSeq("job-1"), 7);
  EXPECT_EQ(*log.Append("job-1", State(v1::RUNNING, v1::QUEUED)), 8);
  Watcher w(log, "job-1", 5);
  auto events = w.Read(3);
  ExpectSeqs(events, 6, 8);
  EXPECT_TRUE(events[2]->has_state_change());
}

TEST_F(EventLogTest, TerminalEventClosesTheLog) {
  EventLog log(store_.get());
  ASSERT_TRUE(log.Append("job-1", State(v1::QUEUED, v1::RUNNING)).ok());
  Watcher w(log, "job-1", 0);
  ExpectSeqs(w.Read(1), 1, 1);
  ASSERT_TRUE(log.Append("job-1", State(v1::RUNNING, v1::SUCCEEDED)).ok());
  ExpectSeqs(w.Read(), 2, 2);
  EXPECT_TRUE(w.ended());
  auto late = log.Append("job-1", Log("too late"));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*log.LastSeq("job-1"), 2);

  // A new watcher of a finished job gets the history, then the end.
  Watcher replay(log, "job-1", 0);
  ExpectSeqs(replay.Read(), 1, 2);
  EXPECT_TRUE(replay.ended());

  // Also after a restart, where the log is rebuilt from the store.
  EventLog fresh(store_.get());
  Watcher after_restart(fresh, "job-1", 1);
  ExpectSeqs(after_restart.Read(), 2, 2);
  EXPECT_TRUE(after_restart.ended());
  EXPECT_EQ(fresh.Append("job-1", Log("x")).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(EventLogTest, FinishedJobsLeaveMemoryWhenTheirLastWatcherGoes) {
  EventLog log(store_.get());
  auto w = std::make_unique<Watcher>(log, "job-1", 0);
  ASSERT_TRUE(log.Append("job-1", State(v1::RUNNING, v1::CANCELLED)).ok());
  EXPECT_EQ(log.jobs_in_memory(), 1);
  w->Read();
  w.reset();
  EXPECT_EQ(log.jobs_in_memory(), 0);
  // LastSeq of a job not in memory reads the store and does not load it.
  EXPECT_EQ(*log.LastSeq("job-1"), 1);
  EXPECT_EQ(log.jobs_in_memory(), 0);
}

TEST_F(EventLogTest, SlowWatcherNeitherBlocksAppendsNorGrowsMemory) {
  EventLogOptions options;
  options.tail_capacity = 16;
  options.store_page_size = 50;
  EventLog log(store_.get(), options);
  ASSERT_TRUE(log.Append("job-1", Log("first")).ok());
  Watcher slow(log, "job-1", 0);
  ExpectSeqs(slow.Read(1), 1, 1);
  EXPECT_TRUE(slow.Read(1, absl::Milliseconds(1)).empty());  // now waiting

  // 3000 appends while the watcher reads nothing at all.
  std::thread appender([&] {
    for (int i = 0; i < 3000; ++i) ASSERT_TRUE(log.Append("job-1", Log("x")).ok());
  });
  appender.join();  // would hang if an append waited for the watcher
  EXPECT_EQ(log.tail_size("job-1"), 16);  // memory held does not follow the backlog
  EXPECT_EQ(slow.wakeups(), 1);           // one wake-up, not one per event

  // It catches up from the store: every event exactly once, in order.
  auto rest = slow.Read(3000);
  ExpectSeqs(rest, 2, 3001);
}

TEST_F(EventLogTest, StepPointsAreBatchedAndFlushedBeforeOtherEvents) {
  absl::Time now = absl::FromUnixSeconds(1000);
  EventLogOptions options;
  options.max_points_per_event = 4;
  options.max_step_delay = absl::Seconds(1);
  options.clock = [&now] { return now; };
  EventLog log(store_.get(), options);
  auto point = [](int step) {
    v1::StepPoint p;
    p.set_step(step);
    p.set_loss(1.0 / step);
    return p;
  };
  // The first point after any other event (here: the job's first) goes out at
  // once, so watchers see the first loss without waiting for a batch.
  ASSERT_TRUE(log.AppendStepPoint("job-1", point(1)).ok());
  EXPECT_EQ(*log.LastSeq("job-1"), 1);
  for (int s = 2; s <= 4; ++s) ASSERT_TRUE(log.AppendStepPoint("job-1", point(s)).ok());
  EXPECT_EQ(*log.LastSeq("job-1"), 1);  // buffered
  ASSERT_TRUE(log.AppendStepPoint("job-1", point(5)).ok());
  EXPECT_EQ(*log.LastSeq("job-1"), 2);  // full batch written as one event

  ASSERT_TRUE(log.AppendStepPoint("job-1", point(6)).ok());
  ASSERT_TRUE(log.Append("job-1", Log("epoch done")).ok());  // flushes point 6 first
  ASSERT_TRUE(log.AppendStepPoint("job-1", point(7)).ok());  // first after an event
  EXPECT_EQ(*log.LastSeq("job-1"), 5);

  ASSERT_TRUE(log.AppendStepPoint("job-1", point(8)).ok());
  now += absl::Seconds(2);  // a slow step: the next point goes out at once
  ASSERT_TRUE(log.AppendStepPoint("job-1", point(9)).ok());

  ASSERT_TRUE(log.AppendStepPoint("job-1", point(10)).ok());
  ASSERT_TRUE(log.Flush("job-1").ok());  // timer-driven flush

  Watcher w(log, "job-1", 0);
  auto events = w.Read(7);
  ExpectSeqs(events, 1, 7);
  ASSERT_EQ(events[0]->step_metrics().points_size(), 1);
  ASSERT_EQ(events[1]->step_metrics().points_size(), 4);
  EXPECT_EQ(events[1]->step_metrics().points(3).step(), 5);
  ASSERT_EQ(events[2]->step_metrics().points_size(), 1);
  EXPECT_EQ(events[2]->step_metrics().points(0).step(), 6);
  EXPECT_EQ(events[3]->log().text(), "epoch done");
  ASSERT_EQ(events[4]->step_metrics().points_size(), 1);
  EXPECT_EQ(events[4]->step_metrics().points(0).step(), 7);
  ASSERT_EQ(events[5]->step_metrics().points_size(), 2);
  EXPECT_EQ(events[5]->step_metrics().points(1).step(), 9);
  EXPECT_EQ(events[5]->time().seconds(), 1002);
  ASSERT_EQ(events[6]->step_metrics().points_size(), 1);
}

// Diagnostics snapshots are batched like step points, go out with them in
// the same flush (points first), are stored, and replay after any seq, also
// from a fresh log over the same store (a restarted server).
TEST_F(EventLogTest, DiagnosticsAreBatchedWithStepPointsAndReplayAfterSeq) {
  absl::Time now = absl::FromUnixSeconds(1000);
  EventLogOptions options;
  options.max_points_per_event = 100;
  options.max_snapshots_per_event = 2;
  options.clock = [&now] { return now; };
  auto snapshot = [](int step) {
    v1::DiagnosticsSnapshot d;
    d.set_step(step);
    v1::LayerDiagnostics* l = d.add_layers();
    l->set_path("layers[0].dense");
    l->mutable_parameters()->set_grad_norm(step * 0.5);
    return d;
  };
  auto point = [](int step) {
    v1::StepPoint p;
    p.set_step(step);
    return p;
  };
  {
    EventLog log(store_.get(), options);
    ASSERT_TRUE(log.Append("job-1", Log("started")).ok());                // seq 1
    ASSERT_TRUE(log.AppendDiagnostics("job-1", snapshot(10)).ok());       // first: seq 2
    EXPECT_EQ(*log.LastSeq("job-1"), 2);
    ASSERT_TRUE(log.AppendStepPoint("job-1", point(19)).ok());
    ASSERT_TRUE(log.AppendDiagnostics("job-1", snapshot(20)).ok());
    EXPECT_EQ(*log.LastSeq("job-1"), 2);  // buffered
    ASSERT_TRUE(log.AppendDiagnostics("job-1", snapshot(30)).ok());  // full: seqs 3, 4
    EXPECT_EQ(*log.LastSeq("job-1"), 4);
    ASSERT_TRUE(log.AppendDiagnostics("job-1", snapshot(40)).ok());
    ASSERT_TRUE(log.Append("job-1", State(v1::RUNNING, v1::SUCCEEDED)).ok());  // 5, 6
  }
  EventLog reopened(store_.get(), options);
  Watcher all(reopened, "job-1", 0);
  auto events = all.Read();
  ExpectSeqs(events, 1, 6);
  ASSERT_EQ(events[1]->diagnostics().snapshots_size(), 1);
  EXPECT_EQ(events[1]->diagnostics().snapshots(0).step(), 10);
  ASSERT_EQ(events[2]->step_metrics().points_size(), 1);
  ASSERT_EQ(events[3]->diagnostics().snapshots_size(), 2);
  EXPECT_EQ(events[3]->diagnostics().snapshots(1).step(), 30);
  EXPECT_EQ(events[3]->diagnostics().snapshots(1).layers(0).parameters().grad_norm(), 15);
  EXPECT_EQ(events[4]->diagnostics().snapshots(0).step(), 40);
  EXPECT_TRUE(events[5]->has_state_change());

  Watcher after(reopened, "job-1", 3);
  auto rest = after.Read();
  ExpectSeqs(rest, 4, 6);
  EXPECT_EQ(rest[0]->SerializeAsString(), events[3]->SerializeAsString());
}

TEST_F(EventLogTest, RejectsBadEventsAndCursors) {
  EventLog log(store_.get());
  EXPECT_EQ(log.Append("job-1", v1::JobEvent()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log.Append("job-1", EventLog::MakeHeartbeat("job-1", 0, absl::Now())).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(log.Append("job-1", Log("a")).ok());
  EXPECT_EQ(log.Subscribe("job-1", -1, [] {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto beyond = log.Subscribe("job-1", 2, [] {});
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(beyond.status().message().find("last event 1"), std::string::npos);
  EXPECT_TRUE(log.Subscribe("job-1", 1, [] {}).ok());  // exactly caught up is fine
}

TEST_F(EventLogTest, ShutdownWakesWatchersWithUnavailable) {
  EventLog log(store_.get());
  ASSERT_TRUE(log.Append("job-1", Log("a")).ok());
  Watcher w(log, "job-1", 1);
  EXPECT_TRUE(w.Read(1, absl::Milliseconds(1)).empty());
  log.Shutdown();
  EXPECT_EQ(w.wakeups(), 1);
  std::shared_ptr<const v1::JobEvent> e;
  EXPECT_EQ(w.sub().Next(&e).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(log.Subscribe("job-1", 0, [] {}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(log.Append("job-1", Log("shutdown checkpoint")).ok());
}

TEST_F(EventLogTest, CancelFromInsideOnReadyDoesNotDeadlock) {
  EventLog log(store_.get());
  std::unique_ptr<EventSubscription> sub;
  int calls = 0;
  sub = *log.Subscribe("job-1", 0, [&] {
    ++calls;
    sub->Cancel();
  });
  std::shared_ptr<const v1::JobEvent> e;
  EXPECT_EQ(*sub->Next(&e), Poll::kWait);
  ASSERT_TRUE(log.Append("job-1", Log("a")).ok());
  ASSERT_TRUE(log.Append("job-1", Log("b")).ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLogTest, ConcurrentAppendersAndWatchersSeeEveryEventOnce) {
  EventLogOptions options;
  options.tail_capacity = 64;  // small, so watchers also take the store path
  EventLog log(store_.get(), options);
  constexpr int kPerThread = 750;
  const std::vector<std::string> jobs = {"job-a", "job-b"};
  for (const auto& j : jobs) ASSERT_TRUE(log.Append(j, State(v1::QUEUED, v1::RUNNING)).ok());

  std::vector<std::vector<int64_t>> seen(4);
  std::vector<std::thread> watchers;
  for (int i = 0; i < 4; ++i) {
    watchers.emplace_back([&, i] {
      Watcher w(log, jobs[i % 2], 0);
      for (const auto& e : w.Read()) seen[i].push_back(e->seq());
      EXPECT_TRUE(w.ended());
    });
  }
  std::vector<std::thread> appenders;
  for (int i = 0; i < 4; ++i) {
    appenders.emplace_back([&, i] {
      for (int k = 0; k < kPerThread; ++k) {
        if (k % 3 == 0) {
          v1::StepPoint p;
          p.set_step(k);
          ASSERT_TRUE(log.AppendStepPoint(jobs[i % 2], p).ok());
        } else {
          ASSERT_TRUE(log.Append(jobs[i % 2], Log(std::to_string(k))).ok());
        }
      }
    });
  }
  for (auto& t : appenders) t.join();
  for (const auto& j : jobs) ASSERT_TRUE(log.Append(j, State(v1::RUNNING, v1::FAILED)).ok());
  for (auto& t : watchers) t.join();

  for (int i = 0; i < 4; ++i) {
    const int64_t last = *log.LastSeq(jobs[i % 2]);
    ASSERT_EQ(static_cast<int64_t>(seen[i].size()), last) << "watcher " << i;
    for (int64_t k = 0; k < last; ++k) ASSERT_EQ(seen[i][k], k + 1);
  }
  // Every appended line is stored exactly once per job.
  for (const auto& j : jobs) {
    auto all = *store_->ReadEvents(j, 0, 1 << 20);
    int lines = 0, points = 0;
    for (const auto& e : all) {
      lines += e.has_log();
      points += e.step_metrics().points_size();
    }
    EXPECT_EQ(lines, 2 * (kPerThread - kPerThread / 3));
    EXPECT_EQ(points, 2 * (kPerThread / 3));
  }
}

// Issue 9: AppendWith commits the event with the caller's rows in one
// transaction. A failed one (here the job's insert: its dataset does not
// exist) assigns no seq, publishes nothing and keeps no log in memory; the
// next transition gets seq 1, and the rows and event land together.
TEST_F(EventLogTest, AppendWithCommitsTheRowsAndTheEventTogetherOrNeither) {
  EventLog log(store_.get());
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::QUEUED);
  job.set_dataset_id("ds-missing");
  StoreWrite bad;
  bad.insert_jobs.push_back(job);
  absl::StatusOr<int64_t> refused =
      log.AppendWith("job-1", State(v1::JOB_STATE_UNSPECIFIED, v1::QUEUED), bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound) << refused.status();
  EXPECT_EQ(*log.LastSeq("job-1"), 0);
  EXPECT_EQ(*store_->MaxEventSeq("job-1"), 0);
  EXPECT_EQ(log.jobs_in_memory(), 0);

  job.clear_dataset_id();
  StoreWrite good;
  good.insert_jobs.push_back(job);
  absl::StatusOr<int64_t> seq =
      log.AppendWith("job-1", State(v1::JOB_STATE_UNSPECIFIED, v1::QUEUED), good);
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 1);
  EXPECT_TRUE(store_->GetJob("job-1").ok());

  // A state change whose row update fails (no such job) burns no seq either.
  v1::Job ghost;
  ghost.set_id("job-1");
  StoreWrite update;
  update.update_jobs.push_back(job);
  update.update_jobs.push_back(ghost);
  update.update_jobs.back().set_id("job-2");
  EXPECT_FALSE(log.AppendWith("job-1", State(v1::QUEUED, v1::RUNNING), update).ok());
  EXPECT_EQ(*log.LastSeq("job-1"), 1);
  EXPECT_EQ(*store_->MaxEventSeq("job-1"), 1);
  job.set_state(v1::RUNNING);
  StoreWrite ok;
  ok.update_jobs.push_back(job);
  EXPECT_EQ(*log.AppendWith("job-1", State(v1::QUEUED, v1::RUNNING), ok), 2);
  EXPECT_EQ(store_->GetJob("job-1")->state(), v1::RUNNING);
}

}  // namespace
}  // namespace trainyard::server
