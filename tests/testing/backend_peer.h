// Test-only access to a Backend's components (the production API reaches
// them only through Backend's methods): put blobs directly, read stored
// events, hold a job's record lock, look at the scheduler and the dataset
// cache, act as a worker (take a job, start it) without a worker thread, and
// run code inside SubmitJob between its row insert and its queueing.
#ifndef TRAINYARD_TESTS_TESTING_BACKEND_PEER_H_
#define TRAINYARD_TESTS_TESTING_BACKEND_PEER_H_

#include <functional>
#include <utility>

#include "server/backend.h"
#include "server/backend_internal.h"

namespace trainyard::server {

class BackendTestPeer {
 public:
  static BlobStore& blobs(Backend& b) { return *b.impl_->blobs; }
  static MetadataStore& store(Backend& b) { return *b.impl_->store; }
  static JobRecords& records(Backend& b) { return *b.impl_->records; }
  static JobScheduler& scheduler(Backend& b) { return *b.impl_->scheduler; }
  static JobRunner& runner(Backend& b) { return *b.impl_->runner; }
  static int worker_threads(Backend& b) {
    absl::MutexLock lock(&b.impl_->workers_mu);
    return static_cast<int>(b.impl_->workers.size());
  }
  static void SetAfterSubmitInsert(Backend& b, std::function<void(const v1::Job&)> hook) {
    b.impl_->after_submit_insert = std::move(hook);
  }
  static DatasetCache& datasets(Backend& b) { return *b.impl_->datasets; }
};

}  // namespace trainyard::server

#endif  // TRAINYARD_TESTS_TESTING_BACKEND_PEER_H_
