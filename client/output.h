// Shared text helpers of the CLI: JSON documents, enum names, timestamps,
// simple aligned tables.
#ifndef TRAINYARD_CLIENT_OUTPUT_H_
#define TRAINYARD_CLIENT_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

// One JSON document (protobuf JSON mapping: lowerCamelCase names, enums by
// name, int64 as strings), pretty-printed, with fields at their default value
// included so scripts can rely on every key being present.
std::string ToJson(const google::protobuf::Message& message);
// One line, same options otherwise (for JSON Lines streams).
std::string ToJsonLine(const google::protobuf::Message& message);

// "QUEUED" ... "CANCELLED"; "UNKNOWN" for unspecified.
std::string JobStateName(v1::JobState state);
// "queued" / "QUEUED" etc. (any case) to the enum; other text: usage error.
absl::StatusOr<v1::JobState> ParseJobState(const std::string& text);

// "2024-05-01 12:34:56Z" (UTC); "-" when unset (seconds and nanos 0).
std::string FormatTimestamp(const google::protobuf::Timestamp& time);

// "0.9123"; "-" for negative (the API's "not applicable" -1).
std::string FormatMetric(double value);

// Columns left-aligned and padded to their widest cell, two spaces apart;
// the first row is the header.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_OUTPUT_H_
