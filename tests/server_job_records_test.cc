// JobRecords: a job's row and its StateChange event written together under
// that job's lock, and locks that are per job (holding one never blocks
// another job's update).
#include "server/job_records.h"

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/event_log.h"
#include "server/metadata_store.h"
#include "tests/testing/temp_store.h"

namespace trainyard::server {
namespace {

class JobRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = temp_.store();
    ASSERT_NE(store_, nullptr);
    events_ = std::make_unique<EventLog>(store_);
    records_ = std::make_unique<JobRecords>(store_, events_.get());
    for (const char* id : {"job-aaaaaaaaaaaaaaaa", "job-bbbbbbbbbbbbbbbb"}) {
      v1::Job job;
      job.set_id(id);
      job.set_state(v1::QUEUED);
      ASSERT_TRUE(store_->InsertJob(job).ok());
    }
  }

  std::vector<v1::JobEvent> Events(const std::string& id) {
    absl::StatusOr<std::vector<v1::JobEvent>> e = store_->ReadEvents(id, 0, 1000);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : std::vector<v1::JobEvent>{};
  }

  static JobRecords::Mutate SetState(v1::JobState s) {
    return [s](v1::Job& job) {
      job.set_state(s);
      return absl::OkStatus();
    };
  }

  const std::string a_ = "job-aaaaaaaaaaaaaaaa";
  const std::string b_ = "job-bbbbbbbbbbbbbbbb";
  trainyard::testing::TempStore temp_{"trainyard_records"};
  MetadataStore* store_ = nullptr;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<JobRecords> records_;
};

TEST_F(JobRecordsTest, AStateChangeWritesTheRowAndOneEventWithTheReason) {
  bool written = false;
  absl::StatusOr<v1::Job> job = records_->Update(
      a_, SetState(v1::RUNNING), "started on a worker",
      [&](const v1::Job& j) { written = j.state() == v1::RUNNING; });
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(written);
  EXPECT_EQ(store_->GetJob(a_)->state(), v1::RUNNING);
  std::vector<v1::JobEvent> events = Events(a_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].state_change().from(), v1::QUEUED);
  EXPECT_EQ(events[0].state_change().to(), v1::RUNNING);
  EXPECT_EQ(events[0].state_change().reason(), "started on a worker");

  // No state change: the row only, no event.
  ASSERT_TRUE(records_
                  ->Update(a_,
                           [](v1::Job& j) {
                             j.mutable_progress()->set_step(7);
                             return absl::OkStatus();
                           },
                           "")
                  .ok());
  EXPECT_EQ(store_->GetJob(a_)->progress().step(), 7);
  EXPECT_EQ(Events(a_).size(), 1u);

  // FAILED carries the job's error into the event.
  ASSERT_TRUE(records_
                  ->Update(a_,
                           [](v1::Job& j) {
                             j.set_state(v1::FAILED);
                             j.mutable_error()->set_code(9);
                             j.mutable_error()->set_message("boom");
                             return absl::OkStatus();
                           },
                           "training failed")
                  .ok());
  events = Events(a_);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state_change().error().message(), "boom");
}

TEST_F(JobRecordsTest, AMutateErrorWritesNothing) {
  bool written = false;
  absl::StatusOr<v1::Job> job = records_->Update(
      a_,
      [](v1::Job& j) {
        j.set_state(v1::CANCELLED);
        return absl::FailedPreconditionError("no");
      },
      "requested by client", [&](const v1::Job&) { written = true; });
  EXPECT_EQ(job.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(written);
  EXPECT_EQ(store_->GetJob(a_)->state(), v1::QUEUED);
  EXPECT_TRUE(Events(a_).empty());
  EXPECT_EQ(records_->Update("job-cccccccccccccccc", SetState(v1::RUNNING), "").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobRecordsTest, HoldingOneJobsLockDoesNotBlockAnotherJob) {
  // Same thread: if the two jobs shared a lock this would self-deadlock.
  JobRecords::Lock held = records_->LockJob(a_);
  absl::StatusOr<v1::Job> other = records_->Update(b_, SetState(v1::RUNNING), "started");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(store_->GetJob(b_)->state(), v1::RUNNING);
  // Reads take no lock at all.
  EXPECT_EQ(records_->Get(a_)->state(), v1::QUEUED);
  // And the held lock still lets its holder update.
  ASSERT_TRUE(records_->UpdateHeld(held, SetState(v1::PAUSED), "paused").ok());
  EXPECT_EQ(store_->GetJob(a_)->state(), v1::PAUSED);
}

TEST_F(JobRecordsTest, UpdatesOfOneJobAreSerialisedAndTheTableEmptiesAfterwards) {
  std::optional<JobRecords::Lock> held;
  held.emplace(records_->LockJob(a_));
  std::thread waiter([&] {
    // Reads the row only once the holder let go, so it sees RUNNING (the
    // holder writes it after this thread started).
    absl::StatusOr<v1::Job> j = records_->Update(
        a_,
        [](v1::Job& job) {
          if (job.state() != v1::RUNNING) return absl::InternalError("saw a stale row");
          job.set_state(v1::SUCCEEDED);
          return absl::OkStatus();
        },
        "completed");
    EXPECT_TRUE(j.ok()) << j.status();
  });
  std::this_thread::yield();
  ASSERT_TRUE(records_->UpdateHeld(*held, SetState(v1::RUNNING), "started").ok());
  held.reset();
  waiter.join();
  EXPECT_EQ(store_->GetJob(a_)->state(), v1::SUCCEEDED);
  EXPECT_EQ(records_->locks_in_use(), 0);
}

TEST_F(JobRecordsTest, LockUsersCountsTheHolderAndEachWaiter) {
  EXPECT_EQ(records_->LockUsers(a_), 0);
  std::optional<JobRecords::Lock> held;
  held.emplace(records_->LockJob(a_));
  EXPECT_EQ(records_->LockUsers(a_), 1);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    JobRecords::Lock mine = records_->LockJob(a_);
    got = true;
  });
  // Deterministic: the waiter registers before it blocks on the lock.
  while (records_->LockUsers(a_) < 2) std::this_thread::yield();
  EXPECT_FALSE(got.load());  // it cannot have the lock: we hold it
  held.reset();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(records_->LockUsers(a_), 0);
}

}  // namespace
}  // namespace trainyard::server
