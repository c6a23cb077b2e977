// The start-up sweep of blob files that no metadata row names. A blob is
// written before its row is committed (a checkpoint save, an import), so a
// crash in between, or a row that could not be written, leaves a file nobody
// owns; this removes them so a client cannot fill the disk one refused or
// interrupted upload at a time. Run once at Backend::Open, before anything
// else writes blobs: a blob whose row is still being written would look
// orphaned.
#ifndef TRAINYARD_SERVER_BLOB_SWEEP_H_
#define TRAINYARD_SERVER_BLOB_SWEEP_H_

#include <string>
#include <vector>

#include "core/env.h"
#include "server/logger.h"
#include "server/metadata_store.h"

namespace trainyard::server {

// Removes every file under `blob_root` (the BlobStore's root, laid out as
// <root>/<first two hex digits>/<sha256>) whose name is not the sha256 of a
// dataset or checkpoint row in `store`; tmp/ is the BlobStore's own. Logs
// each removal (orphan_blob_removed) and each failure (blob_sweep_error, at
// warn: a failure only leaves garbage, which the next start sweeps again).
// Returns the paths removed.
std::vector<std::string> SweepOrphanBlobs(Env* env, const std::string& blob_root,
                                          MetadataStore* store,
                                          const Logger* logger = Logger::Default());

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_BLOB_SWEEP_H_
