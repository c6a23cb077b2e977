#include "server/sqlite_metadata_store_internal.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace trainyard::server::store_internal {

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

int ClampPageSize(int page_size) {
  if (page_size <= 0) return kDefaultPageSize;
  return std::min(page_size, kMaxPageSize);
}

std::string MakePageToken(std::string_view kind, int64_t created_us, std::string_view id) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(std::string(kind), ":", created_us, ":", std::string(id)));
}

absl::StatusOr<PageKey> ParsePageToken(std::string_view kind, std::string_view token) {
  PageKey key;
  if (token.empty()) return key;
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(std::string(token), &raw)) {
    parts = absl::StrSplit(raw, absl::MaxSplits(':', 2));
  }
  if (parts.size() != 3 || parts[0] != kind || !absl::SimpleAtoi(parts[1], &key.created_us)) {
    return absl::InvalidArgumentError("page_token: malformed (pass back a next_page_token)");
  }
  key.present = true;
  key.id = parts[2];
  return key;
}


absl::StatusOr<int64_t> CountRow(const Statement& stmt, std::string_view arg) {
  Query q(stmt);
  q.BindText(1, arg);
  absl::StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  return *row ? q.Int(0) : 0;
}

}  // namespace trainyard::server::store_internal
