// Turning a user's "NAME_OR_ID" into a dataset id, and reading prediction
// input rows. Pure functions over injected look-ups, so they are tested
// without a server.
#ifndef TRAINYARD_CLIENT_RESOLVE_H_
#define TRAINYARD_CLIENT_RESOLVE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

// "ds-" followed by 16 lower-case hex digits (the server's id format).
bool LooksLikeDatasetId(absl::string_view text);

// Lists the datasets with exactly this name, newest first (all pages).
using ListDatasetsByName =
    std::function<absl::StatusOr<v1::ListDatasetsResponse>(const std::string& name)>;

struct ResolvedDataset {
  std::string id;
  // Set when the name matched several datasets and the newest was taken:
  // a one-line note for stderr.
  std::string note;
};

// An id is returned as is (no RPC). Otherwise the newest dataset named `arg`;
// NOT_FOUND when none has that name. `flag` names
// the argument in messages ("--dataset").
absl::StatusOr<ResolvedDataset> ResolveDataset(const std::string& arg,
                                               const std::string& flag,
                                               const ListDatasetsByName& list);

// `--values "1,2,3;4,5,6"`: rows split by ';', values by ','. Blanks around
// numbers are ignored. Every row must have the same number of values.
absl::StatusOr<std::vector<std::vector<float>>> ParseValuesArg(absl::string_view text);

// `--input rows.csv`: one row per line, values separated by ',' (or ';' or a
// tab). Empty lines are skipped; a first line that is not all numbers is a
// header and skipped. Errors name the line and column (1-based).
absl::StatusOr<std::vector<std::vector<float>>> ParseCsvRows(absl::string_view text);

// Row-major flat values plus num_rows for PredictRequest; `seed`, when
// given, seeds the Monte-Carlo passes (PredictRequest.seed).
v1::PredictRequest MakePredictRequest(const std::string& checkpoint_id,
                                      const std::vector<std::vector<float>>& rows,
                                      int mc_samples,
                                      std::optional<uint64_t> seed = std::nullopt);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_RESOLVE_H_
