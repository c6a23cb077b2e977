// `trainyard jobs submit --set PATH=VALUE`: one edit of a config file's tree
// before it is sent, e.g. --set training.epochs=3,
// --set training.optimizer.learning_rate=0.01, --set model.layers[0].dense.units=64.
#ifndef TRAINYARD_CLIENT_CONFIG_OVERRIDE_H_
#define TRAINYARD_CLIENT_CONFIG_OVERRIDE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/config_file.h"
#include "google/protobuf/descriptor.h"

namespace trainyard::client {

struct PathSegment {
  std::string name;  // a field name; empty for an index
  int index = -1;    // a list index; -1 for a name
};

struct ConfigOverride {
  std::string text;                  // "training.epochs=3", for messages
  std::string root;                  // "model" or "training"
  std::vector<PathSegment> path;     // after the root: epochs
  std::string value;                 // "3"
};

// Parses "PATH=VALUE". PATH starts with model or training, then .name and
// [index] steps. A malformed PATH is a usage error (exit 2).
absl::StatusOr<ConfigOverride> ParseOverride(absl::string_view arg);

// Applies `edit` to `file`, whose messages are of type `type` (ModelSpec,
// TrainingConfig). The path is checked against the type as it is walked: an
// unknown field, a step into a value that is not a message, an index into
// something that is not a list or past its end, and a second member of a
// oneof the file already sets are each a local input error naming the step
// (exit 2). Missing messages on the way are created. VALUE is parsed as JSON
// (number, true/false, null, "string", [array], {object}) when it parses,
// else taken as a string: --set training.loss.kind=MSE. VALUE null removes
// the field from the file (so --set training.optimizer.adam=null makes room
// for another choice of that oneof).
absl::Status ApplyOverride(const ConfigOverride& edit,
                           const google::protobuf::Descriptor* type, ConfigFile* file);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_CONFIG_OVERRIDE_H_
