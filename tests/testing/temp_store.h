// A temporary data directory with a MetadataStore in it (synchronous=OFF),
// for tests of the server's components on a real store.
#ifndef TRAINYARD_TESTS_TESTING_TEMP_STORE_H_
#define TRAINYARD_TESTS_TESTING_TEMP_STORE_H_

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/metadata_store.h"

namespace trainyard::testing {

class TempStore {
 public:
  explicit TempStore(const std::string& prefix) {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/" + prefix + "_XXXXXX";
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    server::MetadataStoreOptions options;
    options.synchronous_full = false;
    auto store = server::MetadataStore::Open(dir_ + "/trainyard.db", options);
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) store_ = std::move(*store);
  }
  ~TempStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }
  server::MetadataStore* store() { return store_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<server::MetadataStore> store_;
};

}  // namespace trainyard::testing

#endif  // TRAINYARD_TESTS_TESTING_TEMP_STORE_H_
