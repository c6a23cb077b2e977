// The job scheduler on its own: queue order, admission that is atomic under
// concurrency, the stop-reason precedence (and that it reproduces the old
// five-boolean outcome table), and workers released from TakeNext by Stop.
#include "server/scheduler.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/stop_reason.h"

namespace trainyard::server {
namespace {

QueueKey Key(int priority, int64_t created, std::string id) {
  return QueueKey{priority, created, std::move(id), ""};
}

TEST(JobSchedulerTest, QueueIsPriorityThenAgeThenId) {
  JobScheduler s(100);
  s.Enqueue(Key(0, 20, "job-b"));
  s.Enqueue(Key(5, 30, "job-c"));
  s.Enqueue(Key(0, 10, "job-z"));
  s.Enqueue(Key(0, 20, "job-a"));
  s.Enqueue(Key(-3, 1, "job-d"));
  EXPECT_EQ(s.QueuePosition(Key(5, 30, "job-c")), 0);
  EXPECT_EQ(s.QueuePosition(Key(0, 10, "job-z")), 1);
  EXPECT_EQ(s.QueuePosition(Key(0, 20, "job-a")), 2);
  EXPECT_EQ(s.QueuePosition(Key(0, 20, "job-b")), 3);
  EXPECT_EQ(s.QueuePosition(Key(-3, 1, "job-d")), 4);
  EXPECT_EQ(s.QueuePosition(Key(0, 20, "job-x")), -1);
  for (const char* want : {"job-c", "job-z", "job-a", "job-b", "job-d"}) {
    std::optional<JobScheduler::Taken> t = s.TakeNext();
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->job_id, want);
    s.MarkStarted(*t);
    EXPECT_TRUE(s.IsRunning(want));
    EXPECT_EQ(s.ReasonOf(want), StopReason::kNone);
  }
  EXPECT_EQ(s.queued(), 0);
}

TEST(JobSchedulerTest, DequeueAndFinishWithRequeue) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  s.Enqueue(Key(0, 2, "job-b"));
  s.Dequeue(Key(0, 1, "job-a"));
  EXPECT_EQ(s.QueuePosition(Key(0, 2, "job-b")), 0);
  std::optional<JobScheduler::Taken> t = s.TakeNext();
  ASSERT_TRUE(t.has_value());
  s.MarkStarted(*t);
  s.Finish(*t, Key(0, 2, "job-b"));
  EXPECT_FALSE(s.IsRunning("job-b"));
  EXPECT_EQ(s.QueuePosition(Key(0, 2, "job-b")), 0);
}

TEST(JobSchedulerTest, ConcurrentAdmissionsNeverExceedTheLimit) {
  constexpr int kLimit = 5;
  constexpr int kThreads = 32;
  JobScheduler s(kLimit);
  s.Enqueue(Key(0, 0, "job-already"));  // one slot taken by a queued job
  std::vector<JobScheduler::Reservation> slots(kThreads);
  std::atomic<int> admitted{0}, full{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      JobScheduler::Admission a = s.Reserve(&slots[i]);
      if (a == JobScheduler::Admission::kAdmitted) ++admitted;
      if (a == JobScheduler::Admission::kFull) ++full;
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), kLimit - 1);
  EXPECT_EQ(full.load(), kThreads - (kLimit - 1));
  int32_t position = -1;
  EXPECT_EQ(s.Check(&position), JobScheduler::Admission::kFull);

  // Committing keeps the count; a dropped reservation gives its slot back.
  int committed = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (!slots[i].held()) continue;
    if (committed++ == 0) {
      slots[i].Commit(Key(0, 100 + i, "job-" + std::to_string(i)));
    } else {
      slots[i] = JobScheduler::Reservation();
      break;
    }
  }
  EXPECT_EQ(s.queued(), 2);
  ASSERT_EQ(s.Check(&position), JobScheduler::Admission::kAdmitted);
  EXPECT_EQ(position, 2);  // where the next job would go
  JobScheduler::Reservation again;
  EXPECT_EQ(s.Reserve(&again), JobScheduler::Admission::kAdmitted);
  EXPECT_EQ(s.Reserve(&again), JobScheduler::Admission::kFull);
}

TEST(JobSchedulerTest, ClosedRefusesAdmissionButKeepsTheQueue) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  s.Close();
  EXPECT_TRUE(s.closed());
  JobScheduler::Reservation slot;
  EXPECT_EQ(s.Reserve(&slot), JobScheduler::Admission::kClosed);
  EXPECT_FALSE(slot.held());
  int32_t position;
  EXPECT_EQ(s.Check(&position), JobScheduler::Admission::kClosed);
  EXPECT_EQ(s.queued(), 1);
}

TEST(JobSchedulerTest, StopReleasesAWorkerBlockedInTakeNext) {
  JobScheduler s(10);
  std::atomic<bool> returned{false};
  std::optional<JobScheduler::Taken> got;
  EXPECT_EQ(s.waiting_workers(), 0);
  std::thread worker([&] {
    got = s.TakeNext();  // blocks: nothing queued
    returned = true;
  });
  // Stop only once the worker is blocked in TakeNext, so that it is Stop
  // that releases it. (The wait is bounded only in case TakeNext returned
  // without blocking; it proves nothing by itself.)
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (s.waiting_workers() == 0 && absl::Now() < deadline) std::this_thread::yield();
  const bool blocked = s.waiting_workers() == 1 && !returned.load();
  if (!blocked) {
    s.Stop();
    worker.join();
    FAIL() << "the worker never blocked in TakeNext";
  }
  s.Stop();
  worker.join();  // hangs (test timeout) if Stop did not wake it
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(s.waiting_workers(), 0);
  EXPECT_FALSE(got.has_value());
  s.Enqueue(Key(0, 1, "job-a"));
  EXPECT_FALSE(s.TakeNext().has_value());  // stopped for good
}

TEST(JobSchedulerTest, AwaitIdleAfterTheLastRunFinishes) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  std::optional<JobScheduler::Taken> t = s.TakeNext();
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(s.AwaitIdle(absl::Now()));
  std::thread finisher([&] { s.Finish(*t); });
  EXPECT_TRUE(s.AwaitIdle(absl::InfiniteFuture()));
  finisher.join();
}

constexpr StopReason kAll[] = {StopReason::kShutdown, StopReason::kClientPause,
                               StopReason::kAbandon, StopReason::kClientCancel,
                               StopReason::kCrash};

// The documented order, weakest first, written out rather than derived from
// the enum's values.
int Rank(StopReason r) {
  switch (r) {
    case StopReason::kNone: return 0;
    case StopReason::kShutdown: return 1;
    case StopReason::kClientPause: return 2;
    case StopReason::kAbandon: return 3;
    case StopReason::kClientCancel: return 4;
    case StopReason::kCrash: return 5;
  }
  return -1;
}

TEST(JobSchedulerTest, EveryPairOfStopRequestsKeepsTheStrongerInEitherOrder) {
  for (StopReason a : kAll) {
    for (StopReason b : kAll) {
      JobScheduler s(10);
      s.Enqueue(Key(0, 1, "job-a"));
      std::optional<JobScheduler::Taken> t = s.TakeNext();
      ASSERT_TRUE(t.has_value());
      s.MarkStarted(*t);
      EXPECT_TRUE(s.RequestStop("job-a", a));
      EXPECT_TRUE(s.RequestStop("job-a", b));
      const StopReason want = Rank(a) >= Rank(b) ? a : b;
      EXPECT_EQ(s.ReasonOf("job-a"), want)
          << Rank(a) << " then " << Rank(b);
      // The token carries what the trainer must do: any request without a
      // checkpoint cancels; pause-type requests pause.
      const bool cancels = !StopsWithCheckpoint(a) || !StopsWithCheckpoint(b);
      const bool pauses = StopsWithCheckpoint(a) || StopsWithCheckpoint(b);
      EXPECT_EQ(t->token->cancel_requested(), cancels);
      EXPECT_EQ(t->token->pause_requested(), pauses);
    }
  }
  JobScheduler s(10);
  EXPECT_FALSE(s.RequestStop("job-unknown", StopReason::kClientCancel));
}

TEST(JobSchedulerTest, RequestStopAllReachesEveryRunningJob) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  s.Enqueue(Key(0, 2, "job-b"));
  auto a = s.TakeNext(), b = s.TakeNext();
  ASSERT_TRUE(a && b);
  s.MarkStarted(*a);
  s.MarkStarted(*b);
  s.RequestStop("job-a", StopReason::kClientPause);
  s.RequestStopAll(StopReason::kShutdown);
  EXPECT_EQ(s.ReasonOf("job-a"), StopReason::kClientPause);  // pause beats shutdown
  EXPECT_EQ(s.ReasonOf("job-b"), StopReason::kShutdown);
  s.RequestStopAll(StopReason::kAbandon);
  EXPECT_EQ(s.ReasonOf("job-a"), StopReason::kAbandon);
  EXPECT_TRUE(a->token->cancel_requested() && b->token->cancel_requested());
}

// The worker's decision before the stop reason existed, over its five flags
// (from RunJob's switch as it was).
struct OldEnding {
  bool record;
  v1::JobState state;
  std::string reason;
  v1::CheckpointReason checkpoint;
};
OldEnding OldTable(RunOutcome outcome, bool crash, bool user_cancel, bool user_pause,
                   bool shutdown, bool abandon) {
  if (crash) return {false, v1::JOB_STATE_UNSPECIFIED, "", v1::CHECKPOINT_REASON_UNSPECIFIED};
  switch (outcome) {
    case RunOutcome::kCompleted:
      return {true, v1::SUCCEEDED, "completed", v1::FINAL};
    case RunOutcome::kEarlyStopped:
      return {true, v1::SUCCEEDED, "early stopping", v1::FINAL};
    case RunOutcome::kCancelled:
      if (user_cancel) {
        return {true, v1::CANCELLED, "requested by client", v1::CHECKPOINT_REASON_UNSPECIFIED};
      }
      if (abandon) {
        return {true, v1::QUEUED, "server shutdown", v1::CHECKPOINT_REASON_UNSPECIFIED};
      }
      return {true, v1::CANCELLED, "cancelled", v1::CHECKPOINT_REASON_UNSPECIFIED};
    case RunOutcome::kPaused:
      if (user_pause || !shutdown) return {true, v1::PAUSED, "requested by client", v1::PAUSE};
      return {true, v1::QUEUED, "server shutdown", v1::SHUTDOWN};
  }
  return {};
}

TEST(StopReasonTest, EndingsMatchTheOldFlagTableForEveryRequestSet) {
  // Bits: crash, client cancel, client pause, shutdown, abandon. Abandon only
  // ever follows a shutdown.
  int checked = 0;
  for (int bits = 0; bits < 32; ++bits) {
    const bool crash = bits & 1, cancel = bits & 2, pause = bits & 4, shutdown = bits & 8,
               abandon = bits & 16;
    if (abandon && !shutdown) continue;
    JobScheduler s(10);
    s.Enqueue(Key(0, 1, "job-a"));
    auto t = s.TakeNext();
    ASSERT_TRUE(t.has_value());
    s.MarkStarted(*t);
    if (shutdown) s.RequestStop("job-a", StopReason::kShutdown);
    if (pause) s.RequestStop("job-a", StopReason::kClientPause);
    if (abandon) s.RequestStop("job-a", StopReason::kAbandon);
    if (cancel) s.RequestStop("job-a", StopReason::kClientCancel);
    if (crash) s.RequestStop("job-a", StopReason::kCrash);
    // The outcome the trainer gives for these requests: cancel is checked
    // before pause at each step boundary; with none it runs to the end.
    std::vector<RunOutcome> outcomes;
    if (t->token->cancel_requested()) {
      outcomes = {RunOutcome::kCancelled};
    } else if (t->token->pause_requested()) {
      outcomes = {RunOutcome::kPaused};
    } else {
      outcomes = {RunOutcome::kCompleted, RunOutcome::kEarlyStopped};
    }
    // A request may also land after the last step: the run completes anyway.
    if (bits != 0) outcomes.push_back(RunOutcome::kCompleted);
    for (RunOutcome outcome : outcomes) {
      const OldEnding want = OldTable(outcome, crash, cancel, pause, shutdown, abandon);
      const RunEnding got = EndingFor(outcome, s.RequestsOf("job-a"));
      SCOPED_TRACE(::testing::Message() << "bits " << bits << " outcome "
                                        << static_cast<int>(outcome));
      EXPECT_EQ(got.record, want.record);
      if (!want.record) continue;
      EXPECT_EQ(got.state, want.state);
      EXPECT_EQ(got.reason, want.reason);
      EXPECT_EQ(got.checkpoint, want.checkpoint);
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(StopReasonTest, OnlyTheShutdownCheckpointIsOptional) {
  EXPECT_TRUE(EndingFor(RunOutcome::kCompleted, StopReason::kNone).checkpoint_required);
  EXPECT_TRUE(EndingFor(RunOutcome::kPaused, StopReason::kClientPause).checkpoint_required);
  const RunEnding shutdown = EndingFor(RunOutcome::kPaused, StopReason::kShutdown);
  EXPECT_EQ(shutdown.checkpoint, v1::SHUTDOWN);
  EXPECT_FALSE(shutdown.checkpoint_required);
  EXPECT_EQ(EndingFor(RunOutcome::kCompleted, StopReason::kNone).failure_reason,
            "could not save the final checkpoint");
  EXPECT_EQ(EndingFor(RunOutcome::kPaused, StopReason::kClientPause).failure_reason,
            "could not save the pause checkpoint");
}

// ---------------------------------------------------------------------------
// Every outcome x every set of requests, including requests that reach the
// scheduler only after the trainer returned.

// The five booleans of RunJob's switch in 0770959 (server/job_runner.cc),
// transcribed: what was recorded, which checkpoint was saved first, and
// whether a failure to save it failed the job (and with which reason).
struct OldRecord {
  bool record = false;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  std::string reason;
  v1::CheckpointReason checkpoint = v1::CHECKPOINT_REASON_UNSPECIFIED;
  bool checkpoint_required = false;
  std::string failure_reason;
};
OldRecord OldRunJobSwitch(RunOutcome outcome, bool crash, bool user_cancel, bool user_pause,
                          bool shutdown, bool abandon) {
  // if (crash) return finish(v1::RUNNING, "", OK): nothing recorded.
  if (crash) return {};
  switch (outcome) {
    case RunOutcome::kCompleted:
    case RunOutcome::kEarlyStopped:
      // save(FINAL) failing -> FAILED "could not save the final checkpoint".
      return {true, v1::SUCCEEDED,
              outcome == RunOutcome::kCompleted ? "completed" : "early stopping", v1::FINAL,
              true, "could not save the final checkpoint"};
    case RunOutcome::kCancelled:
      if (user_cancel) return {true, v1::CANCELLED, "requested by client", {}, false, ""};
      if (abandon) return {true, v1::QUEUED, "server shutdown", {}, false, ""};
      return {true, v1::CANCELLED, "cancelled", {}, false, ""};
    case RunOutcome::kPaused:
      if (user_pause || !shutdown) {
        return {true, v1::PAUSED, "requested by client", v1::PAUSE, true,
                "could not save the pause checkpoint"};
      }
      // (void)save(SHUTDOWN): QUEUED whether or not it was saved.
      return {true, v1::QUEUED, "server shutdown", v1::SHUTDOWN, false, ""};
  }
  return {};
}

// Bits of a request set, in the order the test sends them.
constexpr StopReason kBitReason[] = {StopReason::kCrash, StopReason::kClientCancel,
                                     StopReason::kClientPause, StopReason::kShutdown,
                                     StopReason::kAbandon};

void Send(JobScheduler& s, int bits) {
  for (int i = 0; i < 5; ++i) {
    if (bits & (1 << i)) {
      EXPECT_TRUE(s.RequestStop("job-a", kBitReason[i]));
    }
  }
}

void ExpectOldRecord(RunOutcome outcome, int bits, const RunEnding& got) {
  const OldRecord want = OldRunJobSwitch(outcome, bits & 1, bits & 2, bits & 4, bits & 8,
                                         bits & 16);
  SCOPED_TRACE(::testing::Message() << "requests " << bits << " outcome "
                                    << static_cast<int>(outcome));
  ASSERT_EQ(got.record, want.record);
  if (!want.record) return;
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.checkpoint, want.checkpoint);
  EXPECT_EQ(got.checkpoint_required, want.checkpoint_required);
  if (want.checkpoint_required) {
    EXPECT_EQ(got.failure_reason, want.failure_reason);
  }
}

constexpr RunOutcome kOutcomes[] = {RunOutcome::kCompleted, RunOutcome::kEarlyStopped,
                                    RunOutcome::kPaused, RunOutcome::kCancelled};

TEST(StopReasonTest, EveryOutcomeWithEveryRequestSetMatchesTheOldSwitch) {
  // Any outcome may meet any set: the requests that made the trainer stop
  // plus any that arrived after it returned (e.g. kPaused for a shutdown,
  // then a cancel and an abandon).
  for (RunOutcome outcome : kOutcomes) {
    for (int bits = 0; bits < 32; ++bits) {
      JobScheduler s(10);
      s.Enqueue(Key(0, 1, "job-a"));
      std::optional<JobScheduler::Taken> t = s.TakeNext();
      ASSERT_TRUE(t.has_value());
      s.MarkStarted(*t);
      Send(s, bits);
      ExpectOldRecord(outcome, bits, EndingFor(outcome, s.RequestsOf("job-a")));
    }
  }
}

TEST(StopReasonTest, RequestsBeforeAndAfterTheTrainerReturnedMatchTheOldSwitch) {
  // `early` reaches the trainer, which stops as its token says (cancel is
  // checked before pause); `late` arrives after Run returned.
  int checked = 0;
  for (int early = 0; early < 32; ++early) {
    for (int late = 0; late < 32; ++late) {
      JobScheduler s(10);
      s.Enqueue(Key(0, 1, "job-a"));
      std::optional<JobScheduler::Taken> t = s.TakeNext();
      ASSERT_TRUE(t.has_value());
      s.MarkStarted(*t);
      Send(s, early);
      std::vector<RunOutcome> outcomes;
      if (t->token->cancel_requested()) {
        outcomes = {RunOutcome::kCancelled};
      } else if (t->token->pause_requested()) {
        outcomes = {RunOutcome::kPaused};
      } else {
        outcomes = {RunOutcome::kCompleted, RunOutcome::kEarlyStopped};
      }
      // Or the last step ran before the request was seen.
      if (early != 0) outcomes.push_back(RunOutcome::kCompleted);
      Send(s, late);
      for (RunOutcome outcome : outcomes) {
        ExpectOldRecord(outcome, early | late, EndingFor(outcome, s.RequestsOf("job-a")));
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 1024);
}

TEST(StopReasonTest, RequestSetsKeepEveryMemberAndTheirStrongest) {
  StopRequests r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.Strongest(), StopReason::kNone);
  EXPECT_FALSE(r.Has(StopReason::kNone));
  r.Add(StopReason::kShutdown);
  r.Add(StopReason::kClientCancel);
  r.Add(StopReason::kNone);
  EXPECT_TRUE(r.Has(StopReason::kShutdown));
  EXPECT_TRUE(r.Has(StopReason::kClientCancel));
  EXPECT_FALSE(r.Has(StopReason::kClientPause));
  EXPECT_EQ(r.Strongest(), StopReason::kClientCancel);
  EXPECT_TRUE(StopRequests(StopReason::kNone).empty());
  EXPECT_EQ(StopRequests(StopReason::kAbandon).Strongest(), StopReason::kAbandon);
}

// ---------------------------------------------------------------------------
// Claimed vs started runs.

TEST(JobSchedulerTest, AClaimedJobIsNotRunningUntilMarkedStarted) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  std::optional<JobScheduler::Taken> t = s.TakeNext();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->key.id, "job-a");
  // Its RUNNING row is not written yet: the row path applies.
  EXPECT_FALSE(s.IsRunning("job-a"));
  EXPECT_FALSE(s.RequestStop("job-a", StopReason::kClientCancel));
  EXPECT_FALSE(s.RequestStop("job-a", StopReason::kClientPause));
  EXPECT_FALSE(t->token->cancel_requested() || t->token->pause_requested());
  EXPECT_TRUE(s.RequestsOf("job-a").empty());
  // But it still holds the server busy, and a shutdown still reaches it.
  EXPECT_FALSE(s.AwaitIdle(absl::Now()));
  s.RequestStopAll(StopReason::kShutdown);
  EXPECT_TRUE(t->token->pause_requested());
  s.MarkStarted(*t);
  EXPECT_TRUE(s.IsRunning("job-a"));
  EXPECT_TRUE(s.RequestsOf("job-a").Has(StopReason::kShutdown));
  EXPECT_TRUE(s.RequestStop("job-a", StopReason::kClientCancel));
  EXPECT_TRUE(t->token->cancel_requested());
  s.Finish(*t);
  EXPECT_TRUE(s.AwaitIdle(absl::Now()));
}

TEST(JobSchedulerTest, AClaimedJobResumedBackIntoTheQueueIsStartedOnlyOnce) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  std::optional<JobScheduler::Taken> first = s.TakeNext();
  ASSERT_TRUE(first.has_value());
  // Paused and resumed through its row while claimed: queued again.
  JobScheduler::Reservation slot;
  ASSERT_EQ(s.Reserve(&slot), JobScheduler::Admission::kAdmitted);
  EXPECT_EQ(slot.Commit(Key(0, 1, "job-a")), 0);
  s.Enqueue(Key(0, 2, "job-b"));
  // Another worker skips it (the claiming worker will start it) ...
  std::optional<JobScheduler::Taken> other = s.TakeNext();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->job_id, "job-b");
  EXPECT_EQ(s.queued(), 0);
  // ... and starting it leaves no copy in the queue either.
  s.Enqueue(Key(0, 1, "job-a"));
  s.MarkStarted(*first);
  EXPECT_EQ(s.QueuePosition(Key(0, 1, "job-a")), -1);
  EXPECT_TRUE(s.IsRunning("job-a"));
  EXPECT_TRUE(s.RequestStop("job-a", StopReason::kClientPause));
  EXPECT_TRUE(first->token->pause_requested());
}

TEST(JobSchedulerTest, FinishOfAnEndedRunLeavesTheNextRunAlone) {
  JobScheduler s(10);
  s.Enqueue(Key(0, 1, "job-a"));
  std::optional<JobScheduler::Taken> first = s.TakeNext();
  ASSERT_TRUE(first.has_value());
  s.MarkStarted(*first);
  s.Finish(*first, Key(0, 1, "job-a"));  // requeued (a shutdown's end)
  std::optional<JobScheduler::Taken> second = s.TakeNext();
  ASSERT_TRUE(second.has_value());
  s.MarkStarted(*second);
  s.MarkStarted(*first);  // stale: nothing
  s.Finish(*first);       // the worker's release after its write: nothing
  EXPECT_TRUE(s.IsRunning("job-a"));
  EXPECT_TRUE(s.RequestStop("job-a", StopReason::kClientCancel));
  EXPECT_TRUE(second->token->cancel_requested());
  EXPECT_FALSE(first->token->cancel_requested());
  s.Finish(*second);
  EXPECT_FALSE(s.IsRunning("job-a"));
}

TEST(JobSchedulerTest, ReservingIntoAHeldSlotGivesTheOldOneBack) {
  JobScheduler s(2);
  JobScheduler::Reservation slot, other;
  ASSERT_EQ(s.Reserve(&slot), JobScheduler::Admission::kAdmitted);
  // Used to deadlock: the assignment under mu_ gave the old slot back, which
  // locks mu_ again.
  ASSERT_EQ(s.Reserve(&slot), JobScheduler::Admission::kAdmitted);
  EXPECT_TRUE(slot.held());
  ASSERT_EQ(s.Reserve(&other), JobScheduler::Admission::kAdmitted);
  JobScheduler::Reservation third;
  EXPECT_EQ(s.Reserve(&third), JobScheduler::Admission::kFull);
  // Refused, a held slot stays held (and counted).
  EXPECT_EQ(s.Reserve(&slot), JobScheduler::Admission::kFull);
  EXPECT_TRUE(slot.held());
  slot = JobScheduler::Reservation();
  EXPECT_EQ(s.Reserve(&third), JobScheduler::Admission::kAdmitted);
}

TEST(JobSchedulerTest, CommitReturnsThePositionTheJobWasQueuedAt) {
  JobScheduler s(10);
  s.Enqueue(Key(5, 1, "job-high"));
  s.Enqueue(Key(0, 9, "job-late"));
  JobScheduler::Reservation slot;
  ASSERT_EQ(s.Reserve(&slot), JobScheduler::Admission::kAdmitted);
  EXPECT_EQ(slot.Commit(Key(0, 5, "job-mid")), 1);
}

// --- concurrency groups (an experiment's max_concurrent) --------------------

QueueKey GroupKey(int64_t created, std::string id, std::string group) {
  QueueKey k = Key(0, created, std::move(id));
  k.group = std::move(group);
  return k;
}

TEST(JobSchedulerGroupTest, AFullGroupIsPassedOverAndKeepsItsPlace) {
  JobScheduler s(100);
  s.SetGroupLimit("exp-a", 2);
  for (int i = 1; i <= 4; ++i) s.Enqueue(GroupKey(i, "job-a" + std::to_string(i), "exp-a"));
  s.Enqueue(GroupKey(10, "job-x", ""));
  s.Enqueue(GroupKey(11, "job-b1", "exp-b"));  // a group without a limit
  std::vector<JobScheduler::Taken> runs;
  for (int i = 0; i < 4; ++i) {
    std::optional<JobScheduler::Taken> t = s.TakeNext();
    ASSERT_TRUE(t.has_value());
    runs.push_back(*t);
  }
  EXPECT_EQ(runs[0].job_id, "job-a1");
  EXPECT_EQ(runs[1].job_id, "job-a2");
  EXPECT_EQ(runs[2].job_id, "job-x");   // job-a3 held back: exp-a is full
  EXPECT_EQ(runs[3].job_id, "job-b1");
  EXPECT_EQ(s.GroupActive("exp-a"), 2);
  EXPECT_EQ(s.GroupActive("exp-b"), 1);
  // The held-back trials are still queued, first in line.
  EXPECT_EQ(s.QueuePosition(GroupKey(3, "job-a3", "exp-a")), 0);
  EXPECT_EQ(s.queued(), 2);
  // A trial ending frees its slot for the next one.
  s.Finish(runs[0]);
  EXPECT_EQ(s.GroupActive("exp-a"), 1);
  std::optional<JobScheduler::Taken> next = s.TakeNext();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->job_id, "job-a3");
  EXPECT_EQ(s.GroupActive("exp-a"), 2);
  // Finishing a run twice frees its slot once.
  s.Finish(runs[0]);
  EXPECT_EQ(s.GroupActive("exp-a"), 2);
  s.Finish(runs[3]);
  EXPECT_EQ(s.GroupActive("exp-b"), 0);
}

TEST(JobSchedulerGroupTest, ABlockedWorkerWakesWhenTheGroupHasRoomAgain) {
  JobScheduler s(100);
  s.SetGroupLimit("exp-a", 1);
  s.Enqueue(GroupKey(1, "job-a1", "exp-a"));
  s.Enqueue(GroupKey(2, "job-a2", "exp-a"));
  std::optional<JobScheduler::Taken> first = s.TakeNext();
  ASSERT_TRUE(first.has_value());
  std::atomic<bool> returned{false};
  std::optional<JobScheduler::Taken> got;
  std::thread worker([&] {
    got = s.TakeNext();  // blocks: job-a2 is queued but its group is full
    returned = true;
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (s.waiting_workers() == 0 && absl::Now() < deadline) std::this_thread::yield();
  EXPECT_EQ(s.waiting_workers(), 1);
  EXPECT_FALSE(returned.load());
  s.Finish(*first);
  worker.join();  // hangs (test timeout) if the Finish did not wake it
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->job_id, "job-a2");
}

TEST(JobSchedulerGroupTest, RaisingOrRemovingTheLimitReleasesHeldJobs) {
  JobScheduler s(100);
  s.SetGroupLimit("exp-a", 1);
  s.Enqueue(GroupKey(1, "job-a1", "exp-a"));
  s.Enqueue(GroupKey(2, "job-a2", "exp-a"));
  s.Enqueue(GroupKey(3, "job-a3", "exp-a"));
  ASSERT_TRUE(s.TakeNext().has_value());
  std::optional<JobScheduler::Taken> got;
  std::thread worker([&] { got = s.TakeNext(); });
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (s.waiting_workers() == 0 && absl::Now() < deadline) std::this_thread::yield();
  s.SetGroupLimit("exp-a", 2);
  worker.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->job_id, "job-a2");
  s.SetGroupLimit("exp-a", 0);  // no limit
  std::optional<JobScheduler::Taken> third = s.TakeNext();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->job_id, "job-a3");
  EXPECT_EQ(s.GroupActive("exp-a"), 3);
}

TEST(JobSchedulerGroupTest, StopReleasesAWorkerWaitingOnAFullGroup) {
  JobScheduler s(100);
  s.SetGroupLimit("exp-a", 1);
  s.Enqueue(GroupKey(1, "job-a1", "exp-a"));
  s.Enqueue(GroupKey(2, "job-a2", "exp-a"));
  ASSERT_TRUE(s.TakeNext().has_value());
  std::optional<JobScheduler::Taken> got;
  std::thread worker([&] { got = s.TakeNext(); });
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (s.waiting_workers() == 0 && absl::Now() < deadline) std::this_thread::yield();
  s.Stop();
  worker.join();
  EXPECT_FALSE(got.has_value());
}

}  // namespace
}  // namespace trainyard::server
