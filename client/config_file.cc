#include "client/config_file.h"

#include <cstdlib>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/errors.h"
#include "core/json_position.h"

namespace trainyard::client {
namespace {

std::string MarkText(const YAML::Mark& mark) {
  if (mark.is_null()) return "line ?";
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1);
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      case '\r': out->append("\\r"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// A plain (unquoted) YAML scalar as JSON, by the YAML 1.2 core schema:
// null, true/false, integers (also 0x.. and 0o..), floats (also .5, .inf,
// .nan); anything else is a string. Quoted scalars are always strings.
std::string PlainScalarJson(const std::string& s) {
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kTrue("true|True|TRUE");
  static const std::regex kFalse("false|False|FALSE");
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  static const std::regex kOct("0o[0-7]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex kInf("[-+]?\\.(inf|Inf|INF)");
  static const std::regex kNan("\\.(nan|NaN|NAN)");
  if (std::regex_match(s, kNull)) return "null";
  if (std::regex_match(s, kTrue)) return "true";
  if (std::regex_match(s, kFalse)) return "false";
  if (std::regex_match(s, kInt) || std::regex_match(s, kFloat)) {
    // Already JSON ("3", "-0.5", "1e-3"): sent as written, digit for digit.
    if (!FindJsonSyntaxError(s).has_value()) return s;
    if (std::regex_match(s, kInt)) {  // "+3", "007"
      const bool negative = s[0] == '-';
      size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
      while (i + 1 < s.size() && s[i] == '0') ++i;
      return absl::StrCat(negative ? "-" : "", s.substr(i));
    }
    return absl::StrFormat("%.17g", std::strtod(s.c_str(), nullptr));  // ".5", "1."
  }
  if (std::regex_match(s, kHex)) return absl::StrCat(std::strtoull(s.c_str() + 2, nullptr, 16));
  if (std::regex_match(s, kOct)) return absl::StrCat(std::strtoull(s.c_str() + 2, nullptr, 8));
  std::string out;
  // The protobuf JSON mapping spells the special floats as strings.
  if (std::regex_match(s, kInf)) {
    AppendJsonString(s[0] == '-' ? "-Infinity" : "Infinity", &out);
  } else if (std::regex_match(s, kNan)) {
    AppendJsonString("NaN", &out);
  } else {
    AppendJsonString(s, &out);
  }
  return out;
}

void Emit(const YAML::Node& node, int indent, std::string* out) {
  const std::string pad(indent + 2, ' ');
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      if (node.size() == 0) {
        out->append("{}");
        return;
      }
      out->append("{\n");
      bool first = true;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!first) out->append(",\n");
        first = false;
        out->append(pad);
        AppendJsonString(it->first.Scalar(), out);
        out->append(": ");
        Emit(it->second, indent + 2, out);
      }
      absl::StrAppend(out, "\n", std::string(indent, ' '), "}");
      return;
    }
    case YAML::NodeType::Sequence: {
      if (node.size() == 0) {
        out->append("[]");
        return;
      }
      out->append("[\n");
      for (size_t i = 0; i < node.size(); ++i) {
        if (i > 0) out->append(",\n");
        out->append(pad);
        Emit(node[i], indent + 2, out);
      }
      absl::StrAppend(out, "\n", std::string(indent, ' '), "]");
      return;
    }
    case YAML::NodeType::Scalar:
      // "!" marks a quoted (or block) scalar: a string, whatever it reads as.
      if (node.Tag() == "!") {
        AppendJsonString(node.Scalar(), out);
      } else {
        out->append(PlainScalarJson(node.Scalar()));
      }
      return;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out->append("null");
      return;
  }
}

}  // namespace

std::string NormalizeFieldPath(absl::string_view path) {
  std::string out;
  for (char c : path) {
    if (c != '_') out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

absl::StatusOr<ConfigFile> ConfigFile::Load(std::string flag, std::string root,
                                            std::string file, std::string text) {
  ConfigFile config;
  config.flag_ = std::move(flag);
  config.root_ = std::move(root);
  config.file_ = std::move(file);
  config.text_ = std::move(text);
  const std::string lower = absl::AsciiStrToLower(config.file_);
  if (absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml")) {
    config.yaml_ = true;
  } else if (!absl::EndsWith(lower, ".json")) {
    const size_t start = config.text_.find_first_not_of(" \t\r\n");
    config.yaml_ = start == std::string::npos || config.text_[start] != '{';
  }
  if (config.yaml_) {
    if (absl::Status s = config.BuildTree(); !s.ok()) return s;
  }
  return config;
}

absl::Status ConfigFile::BuildTree() {
  const std::string where = absl::StrCat(flag_, " ", file_);
  if (!yaml_) {
    if (std::optional<JsonSyntaxError> error = FindJsonSyntaxError(text_)) {
      return LocalInputError(
          absl::StatusCode::kInvalidArgument,
          absl::StrCat(where, ": malformed JSON: ", error->what, " (",
                       FormatPosition(PositionAt(text_, error->offset)), ")"));
    }
  }
  try {
    tree_ = YAML::Load(text_);
  } catch (const YAML::Exception& e) {
    return LocalInputError(absl::StatusCode::kInvalidArgument,
                           absl::StrCat(where, ": YAML: ", e.msg, " (", MarkText(e.mark), ")"));
  }
  if (!tree_.IsMap()) {
    return LocalInputError(absl::StatusCode::kInvalidArgument,
                           absl::StrCat(where, ": must be a mapping of field names to values (",
                                        MarkText(tree_.Mark()), ")"));
  }
  // Every member's and element's position, by path; keys repeated in one
  // mapping are refused here (the JSON sent would hold both).
  absl::Status status;
  auto walk = [&](auto& self, const YAML::Node& node, const std::string& path) -> bool {
    if (node.IsMap()) {
      std::set<std::string> seen;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {
          status = LocalInputError(absl::StatusCode::kInvalidArgument,
                                   absl::StrCat(where, ": ", path, ": keys must be field names (",
                                                MarkText(it->first.Mark()), ")"));
          return false;
        }
        const std::string child = absl::StrCat(path, ".", it->first.Scalar());
        if (!seen.insert(NormalizeFieldPath(it->first.Scalar())).second) {
          status = LocalInputError(
              absl::StatusCode::kInvalidArgument,
              absl::StrCat(where, ": ", child, ": repeated key (", MarkText(it->first.Mark()), ")"));
          return false;
        }
        lines_[NormalizeFieldPath(child)] = MarkText(it->first.Mark());
        if (!self(self, it->second, child)) return false;
      }
    } else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        const std::string child = absl::StrCat(path, "[", i, "]");
        lines_[NormalizeFieldPath(child)] = MarkText(node[i].Mark());
        if (!self(self, node[i], child)) return false;
      }
    }
    return true;
  };
  if (!walk(walk, tree_, root_)) return status;
  tree_built_ = true;
  return absl::OkStatus();
}

absl::StatusOr<YAML::Node*> ConfigFile::MutableTree() {
  if (!tree_built_) {
    if (absl::Status s = BuildTree(); !s.ok()) return s;
  }
  modified_ = true;
  return &tree_;
}

void ConfigFile::MarkOverridden(const std::string& path, const std::string& override_text) {
  overridden_[NormalizeFieldPath(path)] = override_text;
}

std::string ConfigFile::WireJson() const {
  if (!yaml_ && !modified_) return text_;
  std::string out;
  Emit(tree_, 0, &out);
  out.push_back('\n');
  return out;
}

std::string ConfigFile::Explain(absl::string_view server_message) const {
  const std::string field = absl::StrCat(root_, "_json");
  std::string message(server_message);
  if (!absl::StrContains(message, field)) return message;
  const std::string named = absl::StrCat(flag_, " ", file_);
  // "training_json: training.x.y: what (line L, column C)" or
  // "training.x.y must ... (training_json line L, column C)".
  std::string path;
  static const std::regex kParseError("^(\\w+_json): ([\\w.\\[\\]]+): ");
  static const std::regex kCheckError("^([\\w.\\[\\]]+)[ :]");
  std::smatch m;
  bool parse_error = false;
  if (std::regex_search(message, m, kParseError) && m[1] == field) {
    path = m[2];
    parse_error = true;
  } else if (std::regex_search(message, m, kCheckError)) {
    path = m[1];
  }
  if (parse_error || absl::StartsWith(message, absl::StrCat(field, ": "))) {
    message.replace(0, field.size(), named);
  }
  static const std::regex kPosition("\\((\\w+_json )?line (\\d+), column (\\d+)\\)$");
  if (!yaml_ && !modified_) {
    // The server saw the file's own text: its positions are the file's.
    return std::regex_replace(message, kPosition, absl::StrCat("(", file_, " line $2, column $3)"));
  }
  if (path.empty() || !absl::StartsWith(path, root_)) return message;
  // The --set that wrote the field (or a message or list above it)...
  const std::string normalized = NormalizeFieldPath(path);
  std::string where;
  for (const auto& [set_path, text] : overridden_) {
    if (normalized == set_path ||
        (absl::StartsWith(normalized, set_path) &&
         (normalized[set_path.size()] == '.' || normalized[set_path.size()] == '['))) {
      where = absl::StrCat("from --set ", text);
    }
  }
  // ...else the field, or the nearest enclosing one present in the file.
  for (std::string p = normalized; where.empty();) {
    if (auto it = lines_.find(p); it != lines_.end()) {
      where = absl::StrCat(file_, " ", it->second);
      break;
    }
    const size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos) return message;
    p.resize(cut);
  }
  if (std::regex_search(message, m, kPosition)) {
    message.replace(m.position(0), m.length(0), absl::StrCat("(", where, ")"));
  }
  return message;
}

}  // namespace trainyard::client
