// client/refs.h: job and checkpoint references as the CLI takes them (ids,
// id prefixes, job names, JOB:latest, JOB:best), over fake look-ups.
#include "client/refs.h"

#include <map>
#include <string>
#include <vector>

#include "client/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard::client {
namespace {

using ::testing::HasSubstr;

std::string JobId(const std::string& hex16) { return "job-" + hex16; }

class RefsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Newest first, as ListJobs returns them.
    AddJob(JobId("3fa0000000000002"), "mnist", 300);
    AddJob(JobId("3fb0000000000001"), "mnist", 200);
    AddJob(JobId("77c0000000000000"), "xor", 100);
    // xor: train_loss only (no validation); best at step 20.
    AddCkpt(JobId("77c0000000000000"), std::string(63, 'a') + "1", 10, 0.5, -1);
    AddCkpt(JobId("77c0000000000000"), std::string(63, 'a') + "2", 20, 0.2, -1);
    AddCkpt(JobId("77c0000000000000"), std::string(63, 'b') + "3", 30, 0.3, -1);
    // The newer mnist: validation data; val_loss best at step 10, train_loss at 20.
    jobs_[0].mutable_training()->set_validation_fraction(0.1f);
    AddCkpt(JobId("3fa0000000000002"), std::string(63, 'c') + "1", 10, 0.9, 0.1);
    AddCkpt(JobId("3fa0000000000002"), std::string(63, 'c') + "2", 20, 0.1, 0.4);
    jobs_[0].set_latest_checkpoint_id(std::string(63, 'c') + "2");
    uploaded_.push_back(Ckpt(std::string(63, 'd') + "0", 0, 0, 0));
  }

  static v1::CheckpointInfo Ckpt(const std::string& id, int step, double train, double val) {
    v1::CheckpointInfo c;
    c.set_id(id);
    c.set_step(step);
    c.mutable_metrics()->set_train_loss(train);
    c.mutable_metrics()->set_val_loss(val);
    return c;
  }
  void AddJob(const std::string& id, const std::string& name, int64_t t) {
    v1::Job j;
    j.set_id(id);
    j.set_name(name);
    j.mutable_create_time()->set_seconds(t);
    jobs_.push_back(j);
  }
  void AddCkpt(const std::string& job, const std::string& id, int step, double train,
               double val) {
    checkpoints_[job].push_back(Ckpt(id, step, train, val));
  }

  RefLookups Lookups() {
    RefLookups l;
    l.list_jobs = [this]() -> absl::StatusOr<std::vector<v1::Job>> {
      ++list_calls_;
      return jobs_;
    };
    l.get_job = [this](const std::string& id) -> absl::StatusOr<v1::Job> {
      for (const v1::Job& j : jobs_) {
        if (j.id() == id) return j;
      }
      return absl::NotFoundError("no job " + id);
    };
    l.list_checkpoints =
        [this](const std::string& job) -> absl::StatusOr<std::vector<v1::CheckpointInfo>> {
      if (job.empty()) return uploaded_;
      return checkpoints_[job];
    };
    return l;
  }

  std::vector<v1::Job> jobs_;
  std::map<std::string, std::vector<v1::CheckpointInfo>> checkpoints_;
  std::vector<v1::CheckpointInfo> uploaded_;
  int list_calls_ = 0;
};

TEST_F(RefsTest, FullJobIdIsUsedAsIsWithoutAnRpc) {
  absl::StatusOr<Resolved> r = ResolveJobRef(JobId("ffff000000000000"), "JOB", Lookups());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, JobId("ffff000000000000"));
  EXPECT_EQ(list_calls_, 0);
}

TEST_F(RefsTest, UniqueJobIdPrefixResolvesAndAmbiguousOneListsTheCandidates) {
  absl::StatusOr<Resolved> r = ResolveJobRef("job-77", "JOB", Lookups());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, JobId("77c0000000000000"));
  r = ResolveJobRef("job-3fa", "JOB", Lookups());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, JobId("3fa0000000000002"));

  r = ResolveJobRef("job-3f", "JOB", Lookups());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsUsageError(r.status()));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("JOB: 'job-3f' is ambiguous, it matches 2: job-3fa0000000000002, "
                        "job-3fb0000000000001"));
  r = ResolveJobRef("job-99", "JOB", Lookups());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no job with id prefix or name"));
}

TEST_F(RefsTest, JobNameTakesTheNewestAndSaysSoWhenSeveralMatch) {
  absl::StatusOr<Resolved> r = ResolveJobRef("xor", "JOB", Lookups());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, JobId("77c0000000000000"));
  EXPECT_EQ(r->note, "");
  r = ResolveJobRef("mnist", "--init-from", Lookups());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, JobId("3fa0000000000002"));
  EXPECT_THAT(r->note, HasSubstr("2 jobs are named 'mnist'; using the newest"));
  EXPECT_TRUE(IsUsageError(ResolveJobRef("", "JOB", Lookups()).status()));
}

TEST_F(RefsTest, LatestIsTheJobsPointerAndBestFollowsTheJobsMetric) {
  absl::StatusOr<Resolved> r = ResolveCheckpointRef("job-3fa:latest", "CKPT", Lookups());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, std::string(63, 'c') + "2");
  // With validation data: by val_loss (step 10), not train_loss (step 20).
  r = ResolveCheckpointRef("mnist:best", "CKPT", Lookups());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, std::string(63, 'c') + "1");
  // Without: by train_loss.
  r = ResolveCheckpointRef("xor:best", "CKPT", Lookups());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, std::string(63, 'a') + "2");
  // The retention metric wins when set.
  jobs_[0].mutable_training()->mutable_retention()->set_metric(v1::RETAIN_MIN_TRAIN_LOSS);
  r = ResolveCheckpointRef("job-3fa:best", "CKPT", Lookups());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, std::string(63, 'c') + "2");
  // A job with nothing saved.
  r = ResolveCheckpointRef("job-3fb:latest", "CKPT", Lookups());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("has no checkpoint"));
  r = ResolveCheckpointRef("job-3fb:best", "CKPT", Lookups());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  r = ResolveCheckpointRef("xor:newest", "CKPT", Lookups());
  EXPECT_TRUE(IsUsageError(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("'latest' or 'best'"));
}

TEST_F(RefsTest, CheckpointIdAndPrefixes) {
  const std::string full = std::string(64, '0');
  absl::StatusOr<Resolved> r = ResolveCheckpointRef(full, "CKPT", Lookups());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, full);
  EXPECT_EQ(list_calls_, 0);
  r = ResolveCheckpointRef("bbbb", "CKPT", Lookups());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, std::string(63, 'b') + "3");
  r = ResolveCheckpointRef("dddd", "CKPT", Lookups());  // an uploaded one
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, std::string(63, 'd') + "0");
  r = ResolveCheckpointRef("aaaa", "CKPT", Lookups());
  EXPECT_TRUE(IsUsageError(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("is ambiguous, it matches 2"));
  r = ResolveCheckpointRef("abc", "CKPT", Lookups());
  EXPECT_TRUE(IsUsageError(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("too short"));
  r = ResolveCheckpointRef("eeee", "CKPT", Lookups());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  r = ResolveCheckpointRef("not-hex!", "CKPT", Lookups());
  EXPECT_TRUE(IsUsageError(r.status()));
}

}  // namespace
}  // namespace trainyard::client
