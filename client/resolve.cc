#include "client/resolve.h"

#include <cmath>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "client/errors.h"
#include "client/output.h"
#include "core/sha256.h"

namespace trainyard::client {

bool LooksLikeDatasetId(absl::string_view text) {
  // "ds-" and 16 lowercase hex digits (server/ids.h mints them).
  if (!absl::StartsWith(text, "ds-")) return false;
  return IsLowerHex(std::string_view(text.data() + 3, text.size() - 3), 16);
}

absl::StatusOr<ResolvedDataset> ResolveDataset(const std::string& arg,
                                               const std::string& flag,
                                               const ListDatasetsByName& list) {
  if (arg.empty()) return UsageError(absl::StrCat(flag, ": empty dataset name or id"));
  if (LooksLikeDatasetId(arg)) return ResolvedDataset{arg, ""};
  absl::StatusOr<v1::ListDatasetsResponse> found = list(arg);
  if (!found.ok()) return found.status();
  if (found->datasets_size() == 0) {
    // Exit 3 like an unknown id: the server's answer, not a usage mistake.
    return absl::NotFoundError(absl::StrCat(flag, ": no dataset named '", arg, "'"));
  }
  ResolvedDataset resolved;
  const v1::Dataset& newest = found->datasets(0);  // the server lists newest first
  resolved.id = newest.id();
  if (found->datasets_size() > 1) {
    resolved.note = absl::StrCat("note: ", found->datasets_size(), " datasets are named '",
                                 arg, "'; using the newest, ", newest.id(), " (created ",
                                 FormatTimestamp(newest.created_at()), ")");
  }
  return resolved;
}

namespace {

absl::StatusOr<float> ParseNumber(absl::string_view field, absl::string_view where) {
  field = absl::StripAsciiWhitespace(field);
  float value = 0;
  if (field.empty() || !absl::SimpleAtof(field, &value) || !std::isfinite(value)) {
    return LocalInputError(absl::StatusCode::kInvalidArgument,
                           absl::StrCat(where, ": '", field, "' is not a finite number"));
  }
  return value;
}

absl::Status CheckWidth(const std::vector<std::vector<float>>& rows, absl::string_view where) {
  if (rows.size() > 1 && rows.back().size() != rows.front().size()) {
    return LocalInputError(absl::StatusCode::kInvalidArgument,
                           absl::StrCat(where, " has ", rows.back().size(),
                                        " values, the first row has ", rows.front().size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::vector<float>>> ParseValuesArg(absl::string_view text) {
  std::vector<std::vector<float>> rows;
  int row_number = 0;
  for (absl::string_view row_text : absl::StrSplit(text, ';')) {
    ++row_number;
    if (absl::StripAsciiWhitespace(row_text).empty()) continue;  // trailing ';'
    std::vector<float> row;
    int column = 0;
    for (absl::string_view field : absl::StrSplit(row_text, ',')) {
      ++column;
      auto value = ParseNumber(
          field, absl::StrCat("--values: row ", row_number, ", value ", column));
      if (!value.ok()) return value.status();
      row.push_back(*value);
    }
    rows.push_back(std::move(row));
    if (auto s = CheckWidth(rows, absl::StrCat("--values: row ", row_number)); !s.ok()) {
      return s;
    }
  }
  if (rows.empty()) return UsageError("--values: no rows");
  return rows;
}

absl::StatusOr<std::vector<std::vector<float>>> ParseCsvRows(absl::string_view text) {
  std::vector<std::vector<float>> rows;
  int line_number = 0;
  bool first_content_line = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::vector<float> row;
    absl::Status error;
    int column = 0;
    for (absl::string_view field : absl::StrSplit(line, absl::ByAnyChar(",;\t"))) {
      ++column;
      auto value = ParseNumber(
          field, absl::StrCat("--input: line ", line_number, ", column ", column));
      if (!value.ok()) {
        error = value.status();
        break;
      }
      row.push_back(*value);
    }
    const bool header = first_content_line && !error.ok();
    first_content_line = false;
    if (header) continue;
    if (!error.ok()) return error;
    rows.push_back(std::move(row));
    if (auto s = CheckWidth(rows, absl::StrCat("--input: line ", line_number)); !s.ok()) {
      return s;
    }
  }
  if (rows.empty()) return UsageError("--input: no data rows");
  return rows;
}

v1::PredictRequest MakePredictRequest(const std::string& checkpoint_id,
                                      const std::vector<std::vector<float>>& rows,
                                      int mc_samples, std::optional<uint64_t> seed) {
  v1::PredictRequest request;
  request.set_checkpoint_id(checkpoint_id);
  request.set_mc_samples(mc_samples);
  if (seed.has_value()) request.set_seed(*seed);
  request.set_num_rows(static_cast<int32_t>(rows.size()));
  for (const auto& row : rows) {
    for (float v : row) request.add_flat(v);
  }
  return request;
}

}  // namespace trainyard::client
