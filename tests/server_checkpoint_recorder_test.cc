// CheckpointRecorder: one CheckpointInfo for a checkpoint whether a job saved
// it or a client uploaded it, the save path's side effects (blob, row, the
// job's latest pointer, CheckpointSaved event), and loading by id.
#include "server/checkpoint_recorder.h"

#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/trainer.h"
#include "gtest/gtest.h"
#include "server/time_util.h"
#include "tests/testing/specs.h"
#include "tests/testing/temp_store.h"

namespace trainyard::server {
namespace {

using trainyard::testing::BlobsDataset;
using trainyard::testing::FromJson;

// A real checkpoint after two epochs of a small classifier (so it has a
// history and validates on load).
v1::Checkpoint TrainedCheckpoint(
    const std::string& input = R"("inputDim": 3)") {
  v1::ModelSpec spec = FromJson<v1::ModelSpec>("{" + input + R"(,
    "layers": [{"dense": {"units": 4}}, {"activation": {"kind": "RELU"}},
               {"dense": {"units": 3}}]})");
  v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"learningRate": 0.05, "sgd": {}},
    "batchSize": 8, "seed": 3, "epochs": 2})");
  auto trainer = Trainer::Create(spec, config, BlobsDataset(40, 3, 1), nullptr, TrainerOptions{1});
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  TrainingObserver quiet;
  EXPECT_TRUE((*trainer)->Run(&quiet, nullptr).ok());
  return (*trainer)->MakeCheckpoint();
}

class CheckpointRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = temp_.store();
    ASSERT_NE(store_, nullptr);
    blobs_ = *BlobStore::Open(temp_.dir() + "/blobs");
    events_ = std::make_unique<EventLog>(store_);
    records_ = std::make_unique<JobRecords>(store_, events_.get());
    CheckpointRecorderOptions o;
    o.max_params = 1'000'000;
    o.max_checkpoint_bytes = 1 << 20;
    o.clock = [] { return absl::FromUnixSeconds(1'700'000'000); };
    recorder_ = std::make_unique<CheckpointRecorder>(store_, blobs_.get(), events_.get(),
                                                     records_.get(), o);
    v1::Job job;
    job.set_id(job_id_);
    job.set_state(v1::RUNNING);
    ASSERT_TRUE(store_->InsertJob(job).ok());
  }

  const std::string job_id_ = "job-0123456789abcdef";
  trainyard::testing::TempStore temp_{"trainyard_recorder"};
  MetadataStore* store_ = nullptr;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<JobRecords> records_;
  std::unique_ptr<CheckpointRecorder> recorder_;
};

TEST_F(CheckpointRecorderTest, SavedAndImportedCheckpointsGetTheSameFacts) {
  const v1::Checkpoint ckpt = TrainedCheckpoint();
  ASSERT_GT(ckpt.history_size(), 0);

  absl::StatusOr<v1::CheckpointInfo> saved = recorder_->Save(job_id_, ckpt, v1::PERIODIC);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->job_id(), job_id_);
  EXPECT_EQ(saved->reason(), v1::PERIODIC);
  EXPECT_EQ(saved->id(), saved->sha256());
  EXPECT_EQ(saved->step(), ckpt.step());
  EXPECT_EQ(saved->epoch(), 2);
  EXPECT_EQ(saved->num_features(), 3);
  EXPECT_EQ(saved->num_outputs(), 3);
  EXPECT_EQ(saved->metrics().epoch(), ckpt.history(ckpt.history_size() - 1).epoch());
  EXPECT_EQ(TimestampNanos(saved->created_at()), int64_t{1'700'000'000} * 1'000'000'000);
  EXPECT_EQ(*blobs_->Size(saved->id()), saved->size_bytes());
  EXPECT_EQ(store_->GetCheckpoint(saved->id())->reason(), v1::PERIODIC);

  // The save path's side effects on the job.
  EXPECT_EQ(store_->GetJob(job_id_)->latest_checkpoint_id(), saved->id());
  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ReadEvents(job_id_, 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].checkpoint_saved().checkpoint_id(), saved->id());
  EXPECT_EQ((*events)[0].checkpoint_saved().reason(), v1::PERIODIC);

  // The same checkpoint from another source (different bytes, so a new id),
  // uploaded: every model and training fact equal, no job, reason UPLOADED.
  v1::Checkpoint other = ckpt;
  other.set_dataset_sha256(std::string(64, 'e'));
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(other);
  ASSERT_TRUE(bytes.ok());
  absl::StatusOr<std::string> sha = blobs_->Put(*bytes);
  ASSERT_TRUE(sha.ok());
  absl::StatusOr<v1::CheckpointInfo> imported = recorder_->Import(*sha);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->id(), *sha);
  EXPECT_EQ(imported->job_id(), "");
  EXPECT_EQ(imported->reason(), v1::UPLOADED);
  EXPECT_EQ(imported->size_bytes(), static_cast<int64_t>(bytes->size()));
  v1::CheckpointInfo a = *saved, b = *imported;
  for (v1::CheckpointInfo* info : {&a, &b}) {
    info->clear_id();
    info->clear_sha256();
    info->clear_job_id();
    info->clear_reason();
    info->clear_size_bytes();
  }
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString())
      << a.DebugString() << " vs " << b.DebugString();

  // Importing the same file again gives the recorded row.
  EXPECT_EQ(recorder_->Import(*sha)->id(), *sha);
  // And importing a job's own checkpoint keeps the job's row.
  EXPECT_EQ(recorder_->Import(saved->id())->reason(), v1::PERIODIC);
}

// The row's model facts come from the model's analysis, not its input_dim
// field: a model given only an input shape has C*H*W features.
TEST_F(CheckpointRecorderTest, InputShapeModelsReportTheirFlattenedWidth) {
  const v1::Checkpoint ckpt =
      TrainedCheckpoint(R"("inputShape": {"channels": 3, "height": 1, "width": 1})");
  ASSERT_EQ(ckpt.model().input_dim(), 0);
  absl::StatusOr<v1::CheckpointInfo> saved = recorder_->Save(job_id_, ckpt, v1::FINAL);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->num_features(), 3);
  EXPECT_EQ(saved->num_outputs(), 3);
  v1::Checkpoint copy = ckpt;
  copy.set_dataset_sha256(std::string(64, 'e'));
  absl::StatusOr<std::string> sha = blobs_->Put(*EncodeCheckpoint(copy));
  ASSERT_TRUE(sha.ok());
  absl::StatusOr<v1::CheckpointInfo> imported = recorder_->Import(*sha);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->num_features(), 3);
}

TEST_F(CheckpointRecorderTest, ImportChecksTheFileAndLoadNamesTheField) {
  absl::StatusOr<std::string> junk = blobs_->Put("not a checkpoint");
  ASSERT_TRUE(junk.ok());
  EXPECT_EQ(recorder_->Import(*junk).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder_->Import("nope").status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<v1::Checkpoint> bad = recorder_->Load("xyz", "init_from_checkpoint_id");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("init_from_checkpoint_id"), std::string::npos);
  absl::StatusOr<v1::Checkpoint> missing =
      recorder_->Load(std::string(64, 'a'), "resume_from_checkpoint_id");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("resume_from_checkpoint_id"), std::string::npos);

  absl::StatusOr<v1::CheckpointInfo> saved =
      recorder_->Save(job_id_, TrainedCheckpoint(), v1::FINAL);
  ASSERT_TRUE(saved.ok()) << saved.status();
  absl::StatusOr<v1::Checkpoint> loaded = recorder_->Load(saved->id(), "checkpoint_id");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->step(), saved->step());
}

}  // namespace
}  // namespace trainyard::server
