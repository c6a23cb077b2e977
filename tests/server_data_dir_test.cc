// The data dir: one owner at a time (server/data_dir_lock.h), one server per
// port, and private file modes (core/env.h) — a second Backend on a dir is
// refused before it touches anything, a second Server on a port does not
// start, and a fresh dir holds nothing that other users can read.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "server/data_dir_lock.h"
#include "server/metadata_store.h"
#include "server/server.h"
#include "tests/testing/backend_peer.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Sets the process umask for a scope (tests in one binary run one at a time).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  const mode_t old_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/data_dir_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/data";  // not there yet: Backend::Open creates it
  }
  void TearDown() override { fs::remove_all(root_); }

  ServerOptions Options() const {
    ServerOptions o;
    o.data_dir = dir_;
    o.workers = 1;
    o.cores = 1;
    o.default_threads = 1;
    o.durable_sync = false;
    return o;
  }

  std::unique_ptr<Backend> Open() {
    absl::StatusOr<std::unique_ptr<Backend>> b = Backend::Open(Options());
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }

  // Through the upload path (temp file, rename into blobs/xx/), as the
  // service does it.
  static v1::Dataset Upload(Backend& b) {
    std::string csv;
    for (int i = 0; i < 64; ++i) {
      const double x = (i % 16) / 8.0 - 1, y = (i / 16) / 2.0 - 1;
      absl::StrAppend(&csv, x, ",", y, ",", x + y > 0 ? 1 : 0, "\n");
    }
    absl::StatusOr<std::unique_ptr<BlobWriter>> writer = b.NewUpload(1 << 20);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return v1::Dataset();
    EXPECT_TRUE((*writer)->Append(csv).ok());
    absl::StatusOr<std::string> sha = (*writer)->Commit();
    EXPECT_TRUE(sha.ok()) << sha.status();
    v1::DatasetHeader h;
    h.set_name("points");
    h.set_format(v1::CSV);
    h.mutable_csv_options()->add_label_columns()->push_back('2');
    absl::StatusOr<v1::Dataset> d =
        b.CreateDataset(h, sha.ok() ? *sha : "", static_cast<int64_t>(csv.size()));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : v1::Dataset();
  }

  static v1::SubmitJobRequest Request(const std::string& dataset_id, int epochs) {
    v1::SubmitJobRequest r;
    r.set_dataset_id(dataset_id);
    v1::ModelSpec* m = r.mutable_model();
    m->set_input_dim(2);
    m->add_layers()->mutable_dense()->set_units(4);
    m->add_layers()->mutable_activation()->set_kind(v1::TANH);
    m->add_layers()->mutable_dense()->set_units(2);
    v1::TrainingConfig* t = r.mutable_training();
    t->mutable_loss()->set_kind(v1::SOFTMAX_CROSS_ENTROPY);
    t->mutable_optimizer()->set_learning_rate(0.1);
    t->mutable_optimizer()->mutable_sgd();
    t->set_batch_size(16);
    t->set_epochs(epochs);
    t->set_seed(3);
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

  static v1::JobState State(Backend& b, const std::string& id) {
    absl::StatusOr<v1::Job> j = b.GetJob(id);
    return j.ok() ? j->state() : v1::JOB_STATE_UNSPECIFIED;
  }

  std::string root_;
  std::string dir_;
};

// ------------------------------------------------------------ one owner

TEST_F(DataDirTest, SecondBackendOnTheDirIsRefusedNamingDirAndPid) {
  std::unique_ptr<Backend> first = Open();
  ASSERT_NE(first, nullptr);

  absl::StatusOr<std::unique_ptr<Backend>> second = Backend::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(dir_));
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("pid ", ::getpid())));

  // The first keeps working: writes and reads go through.
  const v1::Dataset d = Upload(*first);
  ASSERT_FALSE(d.id().empty());
  EXPECT_TRUE(first->GetDataset(d.id()).ok());

  // Released with the first Backend: a new one opens and sees its data.
  first.reset();
  std::unique_ptr<Backend> third = Open();
  ASSERT_NE(third, nullptr);
  EXPECT_TRUE(third->GetDataset(d.id()).ok());
}

TEST_F(DataDirTest, RefusedBackendTouchesNothingRecoveryNorTempSweep) {
  std::unique_ptr<Backend> first = Open();
  ASSERT_NE(first, nullptr);
  const v1::Dataset d = Upload(*first);
  first->StartWorkers();
  // Runs until the test ends (~Backend stops it).
  absl::StatusOr<v1::Job> job = first->SubmitJob(Request(d.id(), 1'000'000));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitFor([&] { return State(*first, job->id()) == v1::RUNNING; }));
  // An upload in progress in the first server.
  absl::StatusOr<std::unique_ptr<BlobWriter>> upload = first->NewUpload(1 << 20);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append("half an upload").ok());
  const std::vector<fs::directory_entry> temp_before(
      fs::directory_iterator(dir_ + "/blobs/tmp"), fs::directory_iterator());
  ASSERT_EQ(temp_before.size(), 1u);

  ASSERT_EQ(Backend::Open(Options()).status().code(), absl::StatusCode::kFailedPrecondition);

  // No "recovery" of the running job, no sweep of the first one's temp file.
  EXPECT_EQ(State(*first, job->id()), v1::RUNNING);
  EXPECT_TRUE(fs::exists(temp_before[0].path()));
  EXPECT_TRUE((*upload)->Append(" and the rest").ok());
  EXPECT_TRUE((*upload)->Commit().ok());
}

TEST_F(DataDirTest, LockIsPerOpenNotPerProcessAndAStaleLockFileIsNoObstacle) {
  // A LOCK file left by a dead owner (the kernel dropped its flock) holds a
  // pid that means nothing now.
  ASSERT_TRUE(fs::create_directory(dir_));
  {
    FILE* f = std::fopen((dir_ + "/LOCK").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("999999\n", f);
    std::fclose(f);
  }
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(dir_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  absl::StatusOr<std::unique_ptr<DataDirLock>> again = DataDirLock::Acquire(dir_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()),
              HasSubstr(absl::StrCat("pid ", ::getpid())));  // rewritten: ours now
  lock->reset();
  EXPECT_TRUE(DataDirLock::Acquire(dir_).ok());
}

TEST_F(DataDirTest, MissingParentIsNotFoundNamingTheDir) {
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock =
      DataDirLock::Acquire(root_ + "/no/such/data");
  EXPECT_EQ(lock.status().code(), absl::StatusCode::kNotFound) << lock.status();
  EXPECT_THAT(std::string(lock.status().message()), HasSubstr(root_ + "/no/such/data"));
}

TEST_F(DataDirTest, ServersRefuseASharedDirAndASharedPort) {
  ServerOptions a = Options();
  a.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<Server>> first = Server::Create(a);
  ASSERT_TRUE(first.ok()) << first.status();

  ServerOptions same_dir = a;  // another port, the same dir
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Create(same_dir);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(dir_));

  ServerOptions same_port = Options();  // the first one's port, another dir
  same_port.data_dir = root_ + "/other";
  same_port.listen = (*first)->address();
  absl::StatusOr<std::unique_ptr<Server>> third = Server::Create(same_port);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kUnavailable) << third.status();
  EXPECT_THAT(std::string(third.status().message()), HasSubstr((*first)->address()));
  // The refused server let go of its dir on the way out.
  EXPECT_TRUE(DataDirLock::Acquire(same_port.data_dir).ok());
}

// ------------------------------------------------------------ file modes

// Every entry under `dir`, recursively, with its mode.
std::vector<std::pair<std::string, mode_t>> Entries(const std::string& dir) {
  std::vector<std::pair<std::string, mode_t>> out;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
    out.emplace_back(e.path().string(), ModeOf(e.path().string()));
  }
  return out;
}

TEST_F(DataDirTest, FreshDataDirIsPrivateWhateverTheUmask) {
  ScopedUmask open_umask(0);  // the worst case: nothing is masked
  std::unique_ptr<Backend> b = Open();
  ASSERT_NE(b, nullptr);
  const v1::Dataset d = Upload(*b);
  b->StartWorkers();
  absl::StatusOr<v1::Job> job = b->SubmitJob(Request(d.id(), 2));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitFor([&] { return State(*b, job->id()) == v1::SUCCEEDED; }));
  absl::StatusOr<v1::ListCheckpointsResponse> checkpoints = b->ListCheckpoints(job->id());
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_GE(checkpoints->checkpoints_size(), 1);
  // An upload in progress: its temp file too.
  absl::StatusOr<std::unique_ptr<BlobWriter>> upload = b->NewUpload(1 << 20);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append("partial").ok());

  EXPECT_EQ(ModeOf(dir_), 0700u);
  bool saw_wal = false, saw_shm = false, saw_blob = false, saw_temp = false;
  for (const auto& [path, mode] : Entries(dir_)) {
    if (fs::is_directory(path)) {
      EXPECT_EQ(mode, 0700u) << path;
    } else {
      EXPECT_EQ(mode, 0600u) << path;
    }
    saw_wal |= path.ends_with("trainyard.db-wal");
    saw_shm |= path.ends_with("trainyard.db-shm");
    saw_blob |= path.ends_with(checkpoints->checkpoints(0).id());
    saw_temp |= path.ends_with(".tmp");
  }
  // The files whose modes matter most were there to be checked.
  EXPECT_TRUE(saw_wal && saw_shm && saw_blob && saw_temp)
      << saw_wal << saw_shm << saw_blob << saw_temp;
  EXPECT_EQ(ModeOf(dir_ + "/trainyard.db"), 0600u);
  EXPECT_EQ(ModeOf(dir_ + "/LOCK"), 0600u);
}

TEST_F(DataDirTest, ExistingOpenDataDirStillWorksAndKeepsItsMode) {
  ScopedUmask umask(0);
  ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  {
    std::unique_ptr<Backend> b = Open();
    ASSERT_NE(b, nullptr);
    ASSERT_FALSE(Upload(*b).id().empty());
  }
  std::unique_ptr<Backend> b = Open();  // and reopens
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(ModeOf(dir_), 0755u);  // the operator's choice, left alone
  EXPECT_EQ(ModeOf(dir_ + "/trainyard.db"), 0600u);
}

TEST_F(DataDirTest, StoreCreatesDatabaseWalAndShmPrivate) {
  // The store creates only the database file (0600); that SQLite gives the
  // -wal and -shm files the database's mode is checked here on this SQLite.
  ScopedUmask umask(0);
  ASSERT_TRUE(fs::create_directory(dir_));
  MetadataStoreOptions options;
  options.synchronous_full = false;
  absl::StatusOr<std::unique_ptr<MetadataStore>> store =
      MetadataStore::Open(dir_ + "/trainyard.db", options);
  ASSERT_TRUE(store.ok()) << store.status();
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::QUEUED);
  job.mutable_create_time()->set_seconds(1000);
  ASSERT_TRUE((*store)->InsertJob(job).ok());
  for (const char* name : {"/trainyard.db", "/trainyard.db-wal", "/trainyard.db-shm"}) {
    EXPECT_EQ(ModeOf(dir_ + name), 0600u) << name;
  }
}

}  // namespace
}  // namespace trainyard::server
