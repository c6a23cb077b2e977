// Test-only access to a Backend's components (the production API reaches
// them only through Backend's methods): put blobs directly, read stored
// events, hold a job's record lock, look at the scheduler and the dataset cache.
#ifndef TRAINYARD_TESTS_TESTING_BACKEND_PEER_H_
#define TRAINYARD_TESTS_TESTING_BACKEND_PEER_H_

#include "server/backend.h"
#include "server/backend_internal.h"

namespace trainyard::server {

class BackendTestPeer {
 public:
  static BlobStore& blobs(Backend& b) { return *b.impl_->blobs; }
  static MetadataStore& store(Backend& b) { return *b.impl_->store; }
  static JobRecords& records(Backend& b) { return *b.impl_->records; }
  static JobScheduler& scheduler(Backend& b) { return *b.impl_->scheduler; }
  static DatasetCache& datasets(Backend& b) { return *b.impl_->datasets; }
};

}  // namespace trainyard::server

#endif  // TRAINYARD_TESTS_TESTING_BACKEND_PEER_H_
