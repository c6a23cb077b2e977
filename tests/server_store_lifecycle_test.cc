// The metadata store's side of checkpoint retention and deletion (issue 10
// section 4): which checkpoint rows DeleteCheckpoint, DeleteJob and a
// Commit's prune_checkpoints may delete, the refusals and their codes, the
// atomic checkpoint-reference check of InsertJob, and schema migration 2
// filling the reference columns from existing rows.
#include <sqlite3.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metadata_store.h"
#include "server/sqlite_metadata_store.h"
#include "tests/testing/temp_store.h"

namespace trainyard::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::trainyard::testing::TempStore;

std::string Sha(char c) { return std::string(64, c); }

v1::CheckpointInfo Ckpt(const std::string& id, const std::string& job, int step) {
  v1::CheckpointInfo c;
  c.set_id(id);
  c.set_sha256(id);
  c.set_job_id(job);
  c.set_step(step);
  c.set_reason(v1::PERIODIC);
  c.mutable_created_at()->set_seconds(step);
  return c;
}

v1::Job Job(const std::string& id, v1::JobState state, int64_t t) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  j.mutable_create_time()->set_seconds(t);
  return j;
}

v1::JobEvent Event(const std::string& job, int64_t seq) {
  v1::JobEvent e;
  e.set_job_id(job);
  e.set_seq(seq);
  e.mutable_log()->set_text("x");
  return e;
}

TEST(StoreLifecycleTest, InsertJobChecksItsCheckpointsExist) {
  TempStore t("store_lifecycle");
  MetadataStore* db = t.store();
  v1::Job init = Job("job-1", v1::QUEUED, 1);
  init.set_init_from_checkpoint_id(Sha('a'));
  absl::Status s = db->InsertJob(init);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("init_from_checkpoint_id: no checkpoint"));
  v1::Job resume = Job("job-2", v1::QUEUED, 1);
  resume.set_resume_from_checkpoint_id(Sha('b'));
  s = db->InsertJob(resume);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("resume_from_checkpoint_id: no checkpoint"));
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('a'), "", 0)).ok());
  EXPECT_TRUE(db->InsertJob(init).ok());
}

TEST(StoreLifecycleTest, DeleteCheckpointRefusedWhileAnUnfinishedJobNamesIt) {
  TempStore t("store_lifecycle");
  MetadataStore* db = t.store();
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('a'), "job-1", 10)).ok());
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('b'), "job-1", 20)).ok());
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('u'), "", 0)).ok());
  v1::Job owner = Job("job-1", v1::PAUSED, 1);
  owner.set_latest_checkpoint_id(Sha('b'));
  ASSERT_TRUE(db->InsertJob(owner).ok());
  v1::Job tuner = Job("job-2", v1::QUEUED, 2);
  tuner.set_init_from_checkpoint_id(Sha('u'));
  ASSERT_TRUE(db->InsertJob(tuner).ok());
  v1::Job resumer = Job("job-3", v1::RUNNING, 3);
  resumer.set_resume_from_checkpoint_id(Sha('a'));
  ASSERT_TRUE(db->InsertJob(resumer).ok());

  struct Case {
    char id;
    const char* message;
  };
  for (const Case& c : {Case{'b', "is the latest checkpoint of job job-1 (PAUSED)"},
                        Case{'u', "is the init_from_checkpoint_id of job job-2 (QUEUED)"},
                        Case{'a', "is the resume_from_checkpoint_id of job job-3 (RUNNING)"}}) {
    absl::Status s = db->DeleteCheckpoint(Sha(c.id));
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << c.id;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
    EXPECT_TRUE(db->GetCheckpoint(Sha(c.id)).ok());  // the refusal changed nothing
  }
  // Once the jobs are terminal: allowed; the owner then points at its newest
  // remaining checkpoint, then at none.
  for (v1::Job* j : {&owner, &tuner, &resumer}) {
    j->set_state(v1::CANCELLED);
    ASSERT_TRUE(db->UpdateJob(*j).ok());
  }
  ASSERT_TRUE(db->DeleteCheckpoint(Sha('b')).ok());
  EXPECT_EQ(db->GetJob("job-1")->latest_checkpoint_id(), Sha('a'));
  ASSERT_TRUE(db->DeleteCheckpoint(Sha('a')).ok());
  EXPECT_EQ(db->GetJob("job-1")->latest_checkpoint_id(), "");
  EXPECT_TRUE(db->DeleteCheckpoint(Sha('u')).ok());
  EXPECT_FALSE(*db->IsBlobReferenced(Sha('u')));
  // A second delete: NOT_FOUND.
  EXPECT_EQ(db->DeleteCheckpoint(Sha('u')).code(), absl::StatusCode::kNotFound);
}

TEST(StoreLifecycleTest, DeleteJobTakesRowEventsAndTheCheckpointsNoOtherJobNames) {
  TempStore t("store_lifecycle");
  MetadataStore* db = t.store();
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('a'), "job-1", 10)).ok());
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('b'), "job-1", 20)).ok());
  ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha('c'), "job-1", 30)).ok());
  v1::Job job = Job("job-1", v1::RUNNING, 1);
  job.set_latest_checkpoint_id(Sha('c'));
  ASSERT_TRUE(db->InsertJob(job).ok());
  ASSERT_TRUE(db->AppendEvents("job-1", {Event("job-1", 1), Event("job-1", 2)}).ok());
  // A finished job fine-tuned from job-1's checkpoint b keeps it.
  v1::Job tuned = Job("job-2", v1::SUCCEEDED, 2);
  tuned.set_init_from_checkpoint_id(Sha('b'));
  ASSERT_TRUE(db->InsertJob(tuned).ok());

  absl::StatusOr<std::vector<std::string>> refused = db->DeleteJob("job-1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("job job-1 is RUNNING"));
  EXPECT_EQ(db->ReadEvents("job-1", 0, 10)->size(), 2u);

  job.set_state(v1::SUCCEEDED);
  ASSERT_TRUE(db->UpdateJob(job).ok());
  absl::StatusOr<std::vector<std::string>> deleted = db->DeleteJob("job-1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_THAT(*deleted, ElementsAre(Sha('a'), Sha('c')));  // by step
  EXPECT_EQ(db->GetJob("job-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(db->ReadEvents("job-1", 0, 10)->empty());
  EXPECT_EQ(*db->MaxEventSeq("job-1"), 0);
  EXPECT_TRUE(db->GetCheckpoint(Sha('b')).ok());
  EXPECT_FALSE(*db->IsBlobReferenced(Sha('a')));
  EXPECT_EQ(db->DeleteJob("job-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(db->GetJob("job-2").ok());
}

TEST(StoreLifecycleTest, CommitPrunesOnlyCheckpointsNoJobNames) {
  TempStore t("store_lifecycle");
  MetadataStore* db = t.store();
  for (char c : {'a', 'b', 'c'}) {
    ASSERT_TRUE(db->InsertCheckpoint(Ckpt(Sha(c), "job-1", c)).ok());
  }
  ASSERT_TRUE(db->InsertJob(Job("job-1", v1::RUNNING, 1)).ok());
  v1::Job other = Job("job-2", v1::SUCCEEDED, 2);
  other.set_resume_from_checkpoint_id(Sha('a'));
  ASSERT_TRUE(db->InsertJob(other).ok());

  // The new checkpoint d becomes job-1's latest in the same write that
  // prunes a, b, c and the absent x: a is named by job-2 and stays.
  StoreWrite write;
  write.checkpoints.push_back(Ckpt(Sha('d'), "job-1", 'd'));
  v1::Job job = *db->GetJob("job-1");
  job.set_latest_checkpoint_id(Sha('d'));
  write.update_jobs.push_back(job);
  write.prune_checkpoints = {Sha('a'), Sha('b'), Sha('c'), Sha('x')};
  ASSERT_TRUE(db->Commit(write).ok());
  std::vector<std::string> left;
  const std::vector<v1::CheckpointInfo> rows = db->ListCheckpoints("job-1").value();
  for (const v1::CheckpointInfo& c : rows) left.push_back(c.id());
  EXPECT_THAT(left, ElementsAre(Sha('a'), Sha('d')));

  // The job's own latest is never pruned, even when asked.
  StoreWrite again;
  again.prune_checkpoints = {Sha('d')};
  ASSERT_TRUE(db->Commit(again).ok());
  EXPECT_TRUE(db->GetCheckpoint(Sha('d')).ok());
}

TEST(StoreLifecycleTest, MigrationTwoFillsTheReferenceColumnsFromStoredJobs) {
  TempStore t("store_lifecycle");
  const std::string path = t.dir() + "/old.db";
  {
    MetadataStoreOptions o;
    o.synchronous_full = false;
    auto db = OpenSqliteMetadataStore(path, o);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->InsertCheckpoint(Ckpt(Sha('a'), "", 0)).ok());
    v1::Job job = Job("job-1", v1::QUEUED, 1);
    job.set_init_from_checkpoint_id(Sha('a'));
    ASSERT_TRUE((*db)->InsertJob(job).ok());
  }
  {
    // Back to a version 1 schema: as a server before migration 2 left it.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    const char* downgrade =
        "DROP INDEX jobs_by_latest_checkpoint; DROP INDEX jobs_by_init_from; "
        "DROP INDEX jobs_by_resume_from; ALTER TABLE jobs DROP COLUMN latest_checkpoint_id; "
        "ALTER TABLE jobs DROP COLUMN init_from_checkpoint_id; "
        "ALTER TABLE jobs DROP COLUMN resume_from_checkpoint_id; PRAGMA user_version = 1;";
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(raw, downgrade, nullptr, nullptr, &error), SQLITE_OK) << error;
    sqlite3_close(raw);
  }
  auto db = MetadataStore::Open(path, MetadataStoreOptions{false});
  ASSERT_TRUE(db.ok()) << db.status();
  // The QUEUED job's init_from came from its proto into the new column.
  EXPECT_EQ((*db)->DeleteCheckpoint(Sha('a')).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace trainyard::server
