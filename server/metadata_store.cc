#include "server/metadata_store.h"

#include "server/sqlite_metadata_store.h"

namespace trainyard::server {

absl::StatusOr<std::unique_ptr<MetadataStore>> MetadataStore::Open(
    const std::string& path, const MetadataStoreOptions& options) {
  return OpenSqliteMetadataStore(path, options);
}

}  // namespace trainyard::server
