// A model spec or training config file as the user wrote it (JSON or YAML),
// turned into the JSON text SubmitJob carries (model_json/training_json), so
// that the server's strict parser checks it. The CLI parses nothing itself
// for a JSON file it sends unchanged; YAML, and any file with --set
// overrides, goes through a tree that remembers each field's line, so that
// the server's "training.optimizer.adamm: unknown field (line 4, column 5)"
// is rewritten to the line in the user's file (Explain).
#ifndef TRAINYARD_CLIENT_CONFIG_FILE_H_
#define TRAINYARD_CLIENT_CONFIG_FILE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace trainyard::client {

class ConfigFile {
 public:
  // `flag` ("--model") and `root` ("model": the field the server names it
  // by, model_json's paths start with it). YAML when `file` ends in .yaml or
  // .yml, JSON when it ends in .json, else JSON when the text starts with '{'.
  // A YAML syntax error, a repeated key or a root that is not a mapping is a
  // local input error (exit 2) naming the file's line.
  static absl::StatusOr<ConfigFile> Load(std::string flag, std::string root,
                                         std::string file, std::string text);

  bool is_yaml() const { return yaml_; }
  const std::string& root() const { return root_; }

  // The JSON text to send: the file's own text when it is JSON and nothing
  // was overridden (so the server's positions are the file's), else the
  // tree written out.
  std::string WireJson() const;

  // The tree, built on first use (for a JSON file: after a strict syntax
  // check, failing with the line and column). --set edits it.
  absl::StatusOr<YAML::Node*> MutableTree();
  // Records that `path` (e.g. "training.epochs") was set by `override_text`,
  // for Explain.
  void MarkOverridden(const std::string& path, const std::string& override_text);

  // `server_message` with this file named in place of "<root>_json" and, for
  // a converted file, the server's position replaced by the position in the
  // file (or by the --set that wrote the field). Messages about the other
  // file or about nothing in a file are returned unchanged.
  std::string Explain(absl::string_view server_message) const;

 private:
  ConfigFile() = default;
  absl::Status BuildTree();

  std::string flag_, root_, file_, text_;
  bool yaml_ = false;
  bool tree_built_ = false;
  bool modified_ = false;
  YAML::Node tree_;
  // Normalised path ("training.optimizer.learningrate") -> "line L, column C".
  std::map<std::string, std::string> lines_;
  std::map<std::string, std::string> overridden_;  // normalised path -> --set text
};

// Lowercased with underscores removed: "learning_rate" and "learningRate"
// are one protobuf field.
std::string NormalizeFieldPath(absl::string_view path);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_CONFIG_FILE_H_
