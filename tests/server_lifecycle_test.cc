// Checkpoint retention, DeleteCheckpoint and DeleteJob through the Backend
// (issue 10 section 4): what ListCheckpoints shows and which blob files are
// on disk afterwards, every refusal and its code, and watchers of a deleted
// job.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
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

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/lifecycle_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Backend> Open() {
    ServerOptions o;
    o.data_dir = dir_;
    o.workers = 1;
    o.cores = 2;
    o.default_threads = 1;
    o.durable_sync = false;
    absl::StatusOr<std::unique_ptr<Backend>> b = Backend::Open(o);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }

  // Two features, class 1 when x1 + x2 > 0.
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

  static std::string Upload(Backend& b) {
    const std::string text = ClassCsv(96);
    absl::StatusOr<std::string> sha = BackendTestPeer::blobs(b).Put(text);
    EXPECT_TRUE(sha.ok());
    v1::DatasetHeader h;
    h.set_name("points");
    h.set_format(v1::CSV);
    h.mutable_csv_options()->add_label_columns()->push_back('2');
    absl::StatusOr<v1::Dataset> d = b.CreateDataset(h, *sha, static_cast<int64_t>(text.size()));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? d->id() : "";
  }

  // A checkpoint every epoch; the learning rate is high enough that the
  // validation loss moves around, so "best" and "last" differ.
  static v1::SubmitJobRequest Request(const std::string& dataset, int epochs) {
    v1::SubmitJobRequest r;
    r.set_dataset_id(dataset);
    v1::ModelSpec* m = r.mutable_model();
    m->set_input_dim(2);
    m->add_layers()->mutable_dense()->set_units(8);
    m->add_layers()->mutable_activation()->set_kind(v1::TANH);
    m->add_layers()->mutable_dense()->set_units(2);
    v1::TrainingConfig* t = r.mutable_training();
    t->mutable_loss()->set_kind(v1::SOFTMAX_CROSS_ENTROPY);
    t->mutable_optimizer()->set_learning_rate(0.5);
    t->mutable_optimizer()->mutable_sgd()->set_momentum(0.9f);
    t->set_batch_size(16);
    t->set_epochs(epochs);
    t->set_seed(7);
    t->set_validation_fraction(0.25f);
    t->set_checkpoint_every_epochs(1);
    return r;
  }

  static bool WaitFor(const std::function<bool()>& done, double seconds = 60) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  // Runs `r` to its end on `b` (workers started) and returns the job.
  static v1::Job RunToEnd(Backend& b, const v1::SubmitJobRequest& r) {
    absl::StatusOr<v1::Job> job = b.SubmitJob(r);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return {};
    EXPECT_TRUE(WaitFor([&] {
      absl::StatusOr<v1::Job> j = b.GetJob(job->id());
      return j.ok() && IsTerminalState(j->state());
    }));
    return *b.GetJob(job->id());
  }

  static std::vector<std::string> ListedIds(Backend& b, const std::string& job) {
    std::vector<std::string> ids;
    const absl::StatusOr<v1::ListCheckpointsResponse> list = b.ListCheckpoints(job);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return ids;
    for (const v1::CheckpointInfo& c : list->checkpoints()) {
      ids.push_back(c.id());
    }
    return ids;
  }

  int BlobFiles() const {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_ + "/blobs")) {
      n += e.is_regular_file() && e.path().parent_path().filename() != "tmp";
    }
    return n;
  }

  std::string dir_;
};

TEST_F(LifecycleTest, RetentionKeepsTheLastAndTheBestAndRemovesTheOthersFiles) {
  auto b = Open();
  ASSERT_NE(b, nullptr);
  const std::string dataset = Upload(*b);
  b->StartWorkers();
  v1::SubmitJobRequest r = Request(dataset, 6);
  r.mutable_training()->mutable_retention()->set_keep_last(1);
  r.mutable_training()->mutable_retention()->set_keep_best(1);
  r.mutable_training()->mutable_retention()->set_metric(v1::RETAIN_MIN_VAL_LOSS);
  const v1::Job job = RunToEnd(*b, r);
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.error().message();

  // Every checkpoint the job saved, from its events, with the validation
  // loss of the epoch it was saved after.
  std::map<int, double> val_loss;  // epoch -> val_loss
  std::vector<std::pair<std::string, int>> saved;  // (id, epoch), in order
  const std::vector<v1::JobEvent> events =
      BackendTestPeer::store(*b).ReadEvents(job.id(), 0, 10000).value();
  for (const v1::JobEvent& e : events) {
    if (e.has_epoch_metrics()) val_loss[e.epoch_metrics().epoch()] = e.epoch_metrics().val_loss();
    if (e.has_checkpoint_saved()) {
      saved.emplace_back(e.checkpoint_saved().checkpoint_id(), e.checkpoint_saved().epoch());
    }
  }
  ASSERT_GE(saved.size(), 6u);
  std::string best;
  double best_loss = 1e300;
  for (const auto& [id, epoch] : saved) {
    if (val_loss.count(epoch) > 0 && val_loss[epoch] <= best_loss) {
      best_loss = val_loss[epoch];
      best = id;
    }
  }
  std::set<std::string> expected = {saved.back().first, best};
  EXPECT_EQ(job.latest_checkpoint_id(), saved.back().first);
  std::vector<std::string> listed = ListedIds(*b, job.id());
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, std::vector<std::string>(expected.begin(), expected.end()));
  // On disk: the dataset and the kept checkpoints, nothing else.
  EXPECT_EQ(BlobFiles(), 1 + static_cast<int>(expected.size()));
  for (const auto& [id, epoch] : saved) {
    EXPECT_EQ(BackendTestPeer::blobs(*b).Exists(id), expected.count(id) > 0) << "epoch " << epoch;
  }
  // The pruned ones are gone from the API too.
  for (const auto& [id, epoch] : saved) {
    if (expected.count(id) == 0) {
      EXPECT_EQ(b->GetCheckpoint(id).status().code(), absl::StatusCode::kNotFound);
    }
  }
}

TEST_F(LifecycleTest, WithoutRetentionEveryCheckpointStays) {
  auto b = Open();
  ASSERT_NE(b, nullptr);
  const std::string dataset = Upload(*b);
  b->StartWorkers();
  const v1::Job job = RunToEnd(*b, Request(dataset, 3));
  ASSERT_EQ(job.state(), v1::SUCCEEDED);
  const size_t listed = ListedIds(*b, job.id()).size();
  EXPECT_GE(listed, 3u);
  EXPECT_EQ(BlobFiles(), 1 + static_cast<int>(listed));
}

TEST_F(LifecycleTest, RetentionByValidationMetricNeedsValidationData) {
  auto b = Open();
  ASSERT_NE(b, nullptr);
  const std::string dataset = Upload(*b);
  v1::SubmitJobRequest r = Request(dataset, 2);
  r.mutable_training()->set_validation_fraction(0);
  r.mutable_training()->mutable_retention()->set_keep_best(1);
  r.mutable_training()->mutable_retention()->set_metric(v1::RETAIN_MIN_VAL_LOSS);
  absl::StatusOr<v1::Job> job = b->SubmitJob(r);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(job.status().message()),
              HasSubstr("training.retention.metric RETAIN_MIN_VAL_LOSS needs validation data"));
  r.mutable_training()->mutable_retention()->set_keep_best(-1);
  job = b->SubmitJob(r);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("retention.keep_best"));
}

TEST_F(LifecycleTest, DeleteCheckpointRefusalsCodesAndFiles) {
  std::string dataset, first_job, latest;
  int listed = 0;
  {
    auto b = Open();
    ASSERT_NE(b, nullptr);
    dataset = Upload(*b);
    b->StartWorkers();
    const v1::Job job = RunToEnd(*b, Request(dataset, 2));
    ASSERT_EQ(job.state(), v1::SUCCEEDED);
    first_job = job.id();
    latest = job.latest_checkpoint_id();
    listed = static_cast<int>(ListedIds(*b, first_job).size());
    ASSERT_GE(listed, 2);
    b->Shutdown(absl::Seconds(10));
  }
  auto b = Open();  // no workers: a submitted job stays QUEUED
  ASSERT_NE(b, nullptr);
  v1::SubmitJobRequest tune = Request(dataset, 1);
  tune.set_init_from_checkpoint_id(latest);
  absl::StatusOr<v1::Job> tuner = b->SubmitJob(tune);
  ASSERT_TRUE(tuner.ok()) << tuner.status();

  EXPECT_EQ(b->DeleteCheckpoint("not-a-sha").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->DeleteCheckpoint(std::string(64, 'e')).code(), absl::StatusCode::kNotFound);
  absl::Status refused = b->DeleteCheckpoint(latest);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr(absl::StrCat("init_from_checkpoint_id of job ", tuner->id(), " (QUEUED)")));
  EXPECT_TRUE(BackendTestPeer::blobs(*b).Exists(latest));

  ASSERT_TRUE(b->CancelJob(tuner->id()).ok());
  ASSERT_TRUE(b->DeleteCheckpoint(latest).ok());
  EXPECT_FALSE(BackendTestPeer::blobs(*b).Exists(latest));
  EXPECT_EQ(BlobFiles(), 1 + listed - 1);
  EXPECT_EQ(b->DeleteCheckpoint(latest).code(), absl::StatusCode::kNotFound);
  // The finished job now points at its newest remaining checkpoint.
  const std::vector<std::string> left = ListedIds(*b, first_job);
  ASSERT_EQ(static_cast<int>(left.size()), listed - 1);
  EXPECT_EQ(b->GetJob(first_job)->latest_checkpoint_id(), left.back());
}

TEST_F(LifecycleTest, DeleteJobRefusalsCodesFilesAndWatchers) {
  auto b = Open();
  ASSERT_NE(b, nullptr);
  const std::string dataset = Upload(*b);
  EXPECT_EQ(b->DeleteJob("job-nope").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->DeleteJob("job-00000000000000ff").status().code(), absl::StatusCode::kNotFound);
  // QUEUED (no workers yet): refused, naming the state.
  absl::StatusOr<v1::Job> queued = b->SubmitJob(Request(dataset, 1));
  ASSERT_TRUE(queued.ok());
  absl::StatusOr<v1::DeleteJobResponse> refused = b->DeleteJob(queued->id());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("is QUEUED"));
  ASSERT_TRUE(b->CancelJob(queued->id()).ok());

  b->StartWorkers();
  const v1::Job done = RunToEnd(*b, Request(dataset, 2));
  ASSERT_EQ(done.state(), v1::SUCCEEDED);
  const std::vector<std::string> ckpts = ListedIds(*b, done.id());
  ASSERT_FALSE(ckpts.empty());
  // A watcher that has not read everything yet.
  absl::StatusOr<std::unique_ptr<EventSubscription>> watcher =
      b->Subscribe(done.id(), 0, [] {});
  ASSERT_TRUE(watcher.ok());

  absl::StatusOr<v1::DeleteJobResponse> deleted = b->DeleteJob(done.id());
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  // Listed by step, deleted by step: the same order.
  EXPECT_EQ(std::vector<std::string>(deleted->deleted_checkpoint_ids().begin(),
                                     deleted->deleted_checkpoint_ids().end()),
            ckpts);
  for (const std::string& id : ckpts) EXPECT_FALSE(BackendTestPeer::blobs(*b).Exists(id));
  EXPECT_EQ(BlobFiles(), 1);  // the dataset
  EXPECT_EQ(b->GetJob(done.id()).status().code(), absl::StatusCode::kNotFound);
  std::shared_ptr<const v1::JobEvent> event;
  absl::StatusOr<EventSubscription::Poll> next = (*watcher)->Next(&event);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kNotFound) << next.status();
  EXPECT_EQ(b->DeleteJob(done.id()).status().code(), absl::StatusCode::kNotFound);
  // The cancelled one goes too, without checkpoints.
  absl::StatusOr<v1::DeleteJobResponse> cancelled = b->DeleteJob(queued->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->deleted_checkpoint_ids_size(), 0);
}

}  // namespace
}  // namespace trainyard::server
