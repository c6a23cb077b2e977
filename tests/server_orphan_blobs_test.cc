// Issue 9, class 3: blobs nobody owns. An upload's bytes are committed as a
// blob before they are parsed (server/upload_reactor.cc); a refused upload
// must not leave them behind (before: the file stayed forever, so a client
// could fill the disk one refused upload at a time), and the start-up sweep
// (server/blob_sweep.h, run by Backend::Open) removes blob files no row
// names while keeping every referenced one.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/sha256.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "tests/testing/backend_peer.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;

class OrphanBlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/orphan_blobs_XXXXXX";
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
    auto b = Backend::Open(o);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *std::move(b) : nullptr;
  }

  static v1::DatasetHeader Csv(char label_column) {
    v1::DatasetHeader h;
    h.set_name("points");
    h.set_format(v1::CSV);
    h.mutable_csv_options()->add_label_columns()->push_back(label_column);
    return h;
  }

  std::string BlobPath(const std::string& sha) const {
    return dir_ + "/blobs/" + sha.substr(0, 2) + "/" + sha;
  }
  void Plant(const std::string& path, const std::string& bytes) const {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << bytes;
  }

  std::string dir_;
};

const char kGoodCsv[] = "1,2,0\n3,4,1\n5,6,0\n7,8,1\n";

TEST_F(OrphanBlobTest, ARefusedUploadLeavesNoBlob) {
  auto b = Open();
  ASSERT_NE(b, nullptr);
  BlobStore& blobs = BackendTestPeer::blobs(*b);
  // Not a CSV of numbers: refused at parse time.
  const std::string bad = "a,b,c\nnot,numbers,here\n";
  const std::string sha = *blobs.Put(bad);
  EXPECT_FALSE(b->CreateDataset(Csv('2'), sha, static_cast<int64_t>(bad.size())).ok());
  EXPECT_FALSE(blobs.Exists(sha));
  EXPECT_FALSE(fs::exists(BlobPath(sha)));

  // Refused before parsing (a size that does not match) is cleaned up too.
  const std::string sha2 = *blobs.Put(kGoodCsv);
  EXPECT_FALSE(b->CreateDataset(Csv('2'), sha2, 3).ok());
  EXPECT_FALSE(blobs.Exists(sha2));

  // A refused checkpoint upload (not a checkpoint file).
  const std::string junk = "this is not a checkpoint";
  const std::string sha3 = *blobs.Put(junk);
  EXPECT_FALSE(b->ImportCheckpoint(sha3).ok());
  EXPECT_FALSE(blobs.Exists(sha3));
}

TEST_F(OrphanBlobTest, ARefusedUploadOfBytesARowNamesKeepsThem) {
  auto b = Open();
  ASSERT_NE(b, nullptr);
  BlobStore& blobs = BackendTestPeer::blobs(*b);
  const std::string sha = *blobs.Put(kGoodCsv);
  absl::StatusOr<v1::Dataset> good =
      b->CreateDataset(Csv('2'), sha, static_cast<int64_t>(sizeof(kGoodCsv) - 1));
  ASSERT_TRUE(good.ok()) << good.status();
  // The same bytes with a label column that does not exist: refused, but
  // the first dataset still owns the blob.
  EXPECT_FALSE(b->CreateDataset(Csv('7'), sha, static_cast<int64_t>(sizeof(kGoodCsv) - 1)).ok());
  EXPECT_TRUE(blobs.Exists(sha));
  EXPECT_EQ(*blobs.ReadAll(sha), kGoodCsv);
}

TEST_F(OrphanBlobTest, OpenRemovesPlantedOrphansAndKeepsReferencedBlobs) {
  std::string kept;
  {
    auto b = Open();
    ASSERT_NE(b, nullptr);
    kept = *BackendTestPeer::blobs(*b).Put(kGoodCsv);
    ASSERT_TRUE(
        b->CreateDataset(Csv('2'), kept, static_cast<int64_t>(sizeof(kGoodCsv) - 1)).ok());
  }
  const std::string orphan = Sha256Hex("bytes no row names");
  Plant(BlobPath(orphan), "bytes no row names");
  // Under the orphan's name but with other bytes, and a stray name: both
  // are in a shard directory, so both are the blob store's garbage.
  const std::string other = Sha256Hex("another orphan");
  Plant(BlobPath(other), "garbage");
  const std::string stray = dir_ + "/blobs/" + kept.substr(0, 2) + "/not-a-sha";
  Plant(stray, "x");
  // Not a shard: not the sweep's to delete.
  const std::string foreign = dir_ + "/blobs/README";
  Plant(foreign, "operator's note");

  auto b = Open();
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(fs::exists(BlobPath(orphan)));
  EXPECT_FALSE(fs::exists(BlobPath(other)));
  EXPECT_FALSE(fs::exists(stray));
  EXPECT_TRUE(fs::exists(foreign));
  ASSERT_TRUE(fs::exists(BlobPath(kept)));
  EXPECT_EQ(*BackendTestPeer::blobs(*b).ReadAll(kept), kGoodCsv);
}

}  // namespace
}  // namespace trainyard::server
