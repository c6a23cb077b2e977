#include "core/spec_json.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/json_position.h"
#include "google/protobuf/util/json_util.h"

namespace trainyard {
namespace {

// protobuf 3.21 reports a field error as "(parent.path) name: Cannot find
// field." or "(path): invalid value V for type T"; this is that message taken
// apart, with the path made whole and the wording made plain.
struct FieldError {
  std::string path;    // relative to the message: "optimizer.adamm"
  std::string what;    // "unknown field"
  bool at_key = true;  // point at the member's key (else at its value)
};

std::string PlainTypeName(absl::string_view type) {
  if (absl::ConsumePrefix(&type, "type.googleapis.com/")) return std::string(type);
  if (absl::ConsumePrefix(&type, "TYPE_")) return absl::AsciiStrToLower(type);
  return std::string(type);
}

std::optional<FieldError> SplitParserMessage(absl::string_view message) {
  message = absl::StripTrailingAsciiWhitespace(message);
  absl::string_view parent;
  if (absl::ConsumePrefix(&message, "(")) {
    const size_t close = message.find(')');
    if (close == absl::string_view::npos) return std::nullopt;
    parent = message.substr(0, close);
    message.remove_prefix(close + 1);
  }
  auto join = [&parent](absl::string_view name) {
    return parent.empty() ? std::string(name) : absl::StrCat(parent, ".", name);
  };
  if (absl::ConsumePrefix(&message, ": invalid value ")) {
    // "oneof field 'kind' is already set. Cannot set 'adam' for type oneof"
    constexpr absl::string_view kOneof = "oneof field '";
    if (absl::ConsumePrefix(&message, kOneof)) {
      const size_t q = message.find('\'');
      const size_t set = message.find("Cannot set '");
      if (q != absl::string_view::npos && set != absl::string_view::npos) {
        absl::string_view member = message.substr(set + 12);
        member = member.substr(0, member.find('\''));
        return FieldError{join(member),
                          absl::StrCat("the oneof '", message.substr(0, q),
                                       "' is already set by another member"),
                          true};
      }
    }
    const size_t for_type = message.rfind(" for type ");
    if (for_type == absl::string_view::npos) return std::nullopt;
    return FieldError{std::string(parent),
                      absl::StrCat("invalid value ", message.substr(0, for_type), " for ",
                                   PlainTypeName(message.substr(for_type + 10))),
                      false};
  }
  absl::ConsumePrefix(&message, " ");
  if (absl::ConsumeSuffix(&message, ": Cannot find field.")) {
    return FieldError{join(message), "unknown field", true};
  }
  return std::nullopt;
}

// The position of `path`, or of its longest prefix present in the text.
std::string PositionOf(absl::string_view json, std::string path, bool at_key) {
  while (true) {
    if (std::optional<JsonLocation> at = FindJsonPath(json, path)) {
      return FormatPosition(PositionAt(json, at_key ? at->key_offset : at->value_offset));
    }
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) return FormatPosition(PositionAt(json, 0));
    path.resize(cut);
    at_key = true;
  }
}

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

template <typename Message>
absl::StatusOr<Message> ParseJson(absl::string_view json, const JsonSpecSource& std_source) {
  const struct {
    absl::string_view field, root;
  } source = {Absl(std_source.field), Absl(std_source.root)};
  if (std::optional<JsonSyntaxError> error = FindJsonSyntaxError(json)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.field, ": malformed JSON: ", error->what, " (",
                     FormatPosition(PositionAt(json, error->offset)), ")"));
  }
  const size_t start = json.find_first_not_of(" \t\r\n");
  if (json[start] != '{') {
    return absl::InvalidArgumentError(absl::StrCat(
        source.field, ": must be a JSON object (trainyard.v1.", Message::descriptor()->name(),
        ") (", FormatPosition(PositionAt(json, start)), ")"));
  }
  Message message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a typo'd field must not vanish
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (status.ok()) return message;
  const std::string parser_message(status.message());
  std::optional<FieldError> field = SplitParserMessage(parser_message);
  if (!field) {
    // A message shape this code does not know (another protobuf version):
    // passed on whole, at the document's start rather than nowhere.
    return absl::InvalidArgumentError(absl::StrCat(
        source.field, ": ", absl::StripTrailingAsciiWhitespace(parser_message), " (",
        FormatPosition(PositionAt(json, start)), ")"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source.field, ": ", source.root, field->path.empty() ? "" : ".",
                   field->path, ": ", field->what, " (",
                   PositionOf(json, field->path, field->at_key), ")"));
}

}  // namespace

absl::StatusOr<v1::ModelSpec> ParseModelSpecJson(std::string_view json,
                                                 const JsonSpecSource& source) {
  return ParseJson<v1::ModelSpec>(Absl(json), source);
}

absl::StatusOr<v1::TrainingConfig> ParseTrainingConfigJson(std::string_view json,
                                                           const JsonSpecSource& source) {
  return ParseJson<v1::TrainingConfig>(Absl(json), source);
}

}  // namespace trainyard
