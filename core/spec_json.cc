#include "core/spec_json.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace trainyard {
namespace {

template <typename Message>
absl::StatusOr<Message> ParseJson(std::string_view json, const char* what) {
  Message message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a typo'd field must not vanish
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (!status.ok()) {
    // Syntax errors end in a newline; drop it so the status prints cleanly.
    const std::string parser_message(status.message());
    return absl::InvalidArgumentError(
        absl::StrCat(what, " does not parse as trainyard.v1.",
                     Message::descriptor()->name(), ": ",
                     absl::StripTrailingAsciiWhitespace(parser_message)));
  }
  return message;
}

}  // namespace

absl::StatusOr<v1::ModelSpec> ParseModelSpecJson(std::string_view json) {
  return ParseJson<v1::ModelSpec>(json, "model spec");
}

absl::StatusOr<v1::TrainingConfig> ParseTrainingConfigJson(std::string_view json) {
  return ParseJson<v1::TrainingConfig>(json, "training config");
}

}  // namespace trainyard
