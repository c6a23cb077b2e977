#include "client/config_override.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/errors.h"
#include "core/json_position.h"

namespace trainyard::client {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::OneofDescriptor;

bool IsNameChar(char c, bool first) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (!first && absl::ascii_isdigit(static_cast<unsigned char>(c)));
}

const FieldDescriptor* FindField(const Descriptor* type, const std::string& name) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    if (NormalizeFieldPath(f->name()) == NormalizeFieldPath(name)) return f;
  }
  return nullptr;
}

// The key `field` has in the mapping `node` (either spelling), if any.
std::optional<std::string> FindKey(const YAML::Node& node, const FieldDescriptor* field) {
  if (!node.IsMap()) return std::nullopt;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it->first.IsScalar() &&
        NormalizeFieldPath(it->first.Scalar()) == NormalizeFieldPath(field->name())) {
      return it->first.Scalar();
    }
  }
  return std::nullopt;
}

YAML::Node ValueNode(const std::string& value) {
  if (!FindJsonSyntaxError(value).has_value()) {
    try {
      return YAML::Load(value);  // JSON is YAML: numbers stay numbers
    } catch (const YAML::Exception&) {
      // Valid JSON that yaml-cpp refuses: taken as the string it was written as.
    }
  }
  YAML::Node text(value);
  text.SetTag("!");  // a string, even if it reads like a number
  return text;
}

}  // namespace

absl::StatusOr<ConfigOverride> ParseOverride(absl::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == absl::string_view::npos) {
    return UsageError(absl::StrCat("--set ", arg, ": expected PATH=VALUE, e.g. training.epochs=3"));
  }
  ConfigOverride edit;
  edit.text = std::string(arg);
  edit.value = std::string(arg.substr(eq + 1));
  const absl::string_view path = arg.substr(0, eq);
  auto bad = [&](absl::string_view why) {
    return UsageError(absl::StrCat("--set ", arg, ": ", why));
  };
  size_t i = 0;
  bool first = true;
  while (i < path.size()) {
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      int index = -1;
      if (edit.path.empty() || close == absl::string_view::npos ||
          !absl::SimpleAtoi(path.substr(i + 1, close - i - 1), &index) || index < 0) {
        return bad("a list index is [N] with N >= 0, after a field name");
      }
      edit.path.push_back(PathSegment{"", index});
      i = close + 1;
      continue;
    }
    if (!first) {
      if (path[i] != '.') return bad("expected '.' or '[' between the steps of PATH");
      ++i;
    }
    const size_t start = i;
    while (i < path.size() && IsNameChar(path[i], i == start)) ++i;
    if (i == start) return bad("expected a field name in PATH");
    std::string name(path.substr(start, i - start));
    if (first) {
      if (name != "model" && name != "training") {
        return bad("PATH starts with model or training (the file it edits)");
      }
      edit.root = std::move(name);
      first = false;
    } else {
      edit.path.push_back(PathSegment{std::move(name), -1});
    }
  }
  if (edit.root.empty()) return bad("PATH is empty");
  if (edit.path.empty()) return bad("PATH names a whole file; name a field in it");
  return edit;
}

absl::Status ApplyOverride(const ConfigOverride& edit, const Descriptor* type, ConfigFile* file) {
  absl::StatusOr<YAML::Node*> tree = file->MutableTree();
  if (!tree.ok()) return tree.status();
  auto bad = [&](const std::string& where, absl::string_view why) {
    return LocalInputError(absl::StatusCode::kInvalidArgument,
                           absl::StrCat("--set ", edit.text, ": ", where, ": ", why));
  };
  YAML::Node node;
  node.reset(**tree);
  const Descriptor* message = type;    // the type of `node` when it is a message
  const FieldDescriptor* list = nullptr;  // set when `node` is a repeated field's list
  std::string where = edit.root;
  for (size_t i = 0; i < edit.path.size(); ++i) {
    const PathSegment& step = edit.path[i];
    const bool last = i + 1 == edit.path.size();
    YAML::Node child;
    if (step.index < 0) {
      if (list != nullptr) {
        return bad(where, absl::StrCat("is a list: index it, e.g. ", where, "[0]"));
      }
      if (message == nullptr) {
        return bad(where, absl::StrCat("is a value, not a message: it has no field '",
                                       step.name, "'"));
      }
      const FieldDescriptor* field = FindField(message, step.name);
      const std::string path = absl::StrCat(where, ".", step.name);
      if (field == nullptr) {
        return bad(path, absl::StrCat("no such field in ", message->full_name()));
      }
      if (!node.IsMap() && !node.IsNull()) {
        return bad(where, "the file has a value here, not a mapping");
      }
      if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
        for (int k = 0; k < oneof->field_count(); ++k) {
          const FieldDescriptor* other = oneof->field(k);
          if (other != field && FindKey(node, other)) {
            return bad(path, absl::StrCat(
                "the file already sets ", where, ".", other->name(),
                ", another choice of the oneof '", oneof->name(),
                "'; unset it first with --set ", where, ".", other->name(), "=null"));
          }
        }
      }
      const std::string key = FindKey(node, field).value_or(field->name());
      if (last && edit.value == "null") {  // unset: the field leaves the file
        if (node.IsMap()) node.remove(key);
        file->MarkOverridden(path, edit.text);
        return absl::OkStatus();
      }
      child.reset(node[key]);
      where = path;
      if (field->is_repeated()) {
        list = field;
        message = nullptr;
      } else {
        message = field->type() == FieldDescriptor::TYPE_MESSAGE ? field->message_type()
                                                                 : nullptr;
      }
      if (!last && !list && message != nullptr && !child.IsDefined()) {
        child = YAML::Node(YAML::NodeType::Map);  // a message the file leaves out
      }
    } else {
      const std::string path = absl::StrCat(where, "[", step.index, "]");
      if (list == nullptr) return bad(path, absl::StrCat(where, " is not a list"));
      const size_t size = node.IsSequence() ? node.size() : 0;
      if (static_cast<size_t>(step.index) >= size) {
        return bad(path, absl::StrCat("no such element: the file's ", where, " has ", size,
                                      size == 1 ? " element" : " elements"));
      }
      child.reset(node[static_cast<size_t>(step.index)]);
      message = list->type() == FieldDescriptor::TYPE_MESSAGE ? list->message_type() : nullptr;
      list = nullptr;
      where = path;
    }
    if (last) {
      child = ValueNode(edit.value);
      file->MarkOverridden(where, edit.text);
      return absl::OkStatus();
    }
    node.reset(child);
  }
  return absl::OkStatus();  // unreachable: ParseOverride gives a non-empty path
}

}  // namespace trainyard::client
