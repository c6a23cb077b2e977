#include "core/atomic_file.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/data/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/atomic_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& name : Entries()) {
      std::string p = dir_ + "/" + name;
      if (unlink(p.c_str()) != 0) rmdir(p.c_str());
    }
    rmdir(dir_.c_str());
  }
  std::set<std::string> Entries() const {
    std::set<std::string> names;
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.insert(name);
      }
      closedir(d);
    }
    return names;
  }
  std::string dir_;
};

TEST_F(AtomicFileTest, WritesNewFile) {
  const std::string path = dir_ + "/f.bin";
  std::string data("bytes\0with nul", 14);
  ASSERT_EQ(WriteFileAtomically(path, data), absl::OkStatus());
  EXPECT_EQ(*ReadFile(path), data);
  EXPECT_EQ(Entries(), std::set<std::string>{"f.bin"});
}

TEST_F(AtomicFileTest, ReplacesExistingFileAndLeavesNoTemp) {
  const std::string path = dir_ + "/f.bin";
  ASSERT_EQ(WriteFileAtomically(path, std::string(10000, 'a')), absl::OkStatus());
  ASSERT_EQ(WriteFileAtomically(path, "short"), absl::OkStatus());
  EXPECT_EQ(*ReadFile(path), "short");
  EXPECT_EQ(Entries(), std::set<std::string>{"f.bin"});
}

TEST_F(AtomicFileTest, EmptyDataGivesEmptyFile) {
  const std::string path = dir_ + "/empty";
  ASSERT_EQ(WriteFileAtomically(path, ""), absl::OkStatus());
  EXPECT_EQ(*ReadFile(path), "");
}

TEST_F(AtomicFileTest, NewFileRespectsUmask) {
  const std::string path = dir_ + "/mode";
  mode_t old = umask(022);
  ASSERT_EQ(WriteFileAtomically(path, "x"), absl::OkStatus());
  umask(old);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(AtomicFileTest, MissingDirectoryIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/missing/f.bin";
  absl::Status s = WriteFileAtomically(path, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir_ + "/missing/"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("No such file or directory"));
  EXPECT_TRUE(Entries().empty());
}

TEST_F(AtomicFileTest, TargetIsADirectoryFailsAndRemovesTemp) {
  const std::string path = dir_ + "/sub";
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  absl::Status s = WriteFileAtomically(path, "x");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_EQ(Entries(), std::set<std::string>{"sub"});  // no temp left behind
}

TEST_F(AtomicFileTest, EmptyOrDirectoryPathIsInvalid) {
  EXPECT_EQ(WriteFileAtomically("", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteFileAtomically(dir_ + "/", "x").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AtomicFileTest, RelativePathInCurrentDirectory) {
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  absl::Status s = WriteFileAtomically("rel.txt", "r");
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_EQ(s, absl::OkStatus());
  EXPECT_EQ(*ReadFile(dir_ + "/rel.txt"), "r");
}

// Readers racing with writers only ever see one writer's complete content.
TEST_F(AtomicFileTest, ConcurrentWritersAndReaderSeeWholeFiles) {
  const std::string path = dir_ + "/shared";
  ASSERT_EQ(WriteFileAtomically(path, std::string(50000, 'a')), absl::OkStatus());
  std::vector<std::thread> writers;
  for (char c : {'b', 'c', 'd'}) {
    writers.emplace_back([&, c] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(WriteFileAtomically(path, std::string(50000, c)), absl::OkStatus());
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<std::string> data = ReadFile(path);
    ASSERT_TRUE(data.ok()) << data.status();
    ASSERT_EQ(data->size(), 50000u);
    ASSERT_EQ(data->find_first_not_of((*data)[0]), std::string::npos);
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(Entries(), std::set<std::string>{"shared"});
}

}  // namespace
}  // namespace trainyard
