// Parsing user-written JSON specs (the protobuf JSON mapping: field names in
// snake_case or lowerCamelCase, enums by name). Shared by the server (the
// SubmitJobRequest's model_json/training_json), the tests and the benches, so
// that all of them accept and reject the same text. Parsing checks syntax,
// field names and value types only; the values are ValidateModelSpec's and
// ValidateTrainingConfig's job.
//
// Every failure is INVALID_ARGUMENT and reads
//   "<field>: <root>.<path>: <what> (line L, column C)"
// e.g. "training_json: training.optimizer.adamm: unknown field (line 3, column 18)",
// or "<field>: malformed JSON: <what> (line L, column C)". The position is the
// member's key for an unknown field and its value for a bad value
// (core/json_position.h).
#ifndef TRAINYARD_CORE_SPEC_JSON_H_
#define TRAINYARD_CORE_SPEC_JSON_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Names a JSON text in messages.
struct JsonSpecSource {
  std::string_view field;  // what holds the text: "training_json", "base.model_json"
  std::string_view root;   // the path its fields are named by: "training"
};

// Unknown field names (typos) and keys repeated in one object are errors,
// not silently ignored or overwritten.
absl::StatusOr<v1::ModelSpec> ParseModelSpecJson(
    std::string_view json, const JsonSpecSource& source = {"model", "model"});
absl::StatusOr<v1::TrainingConfig> ParseTrainingConfigJson(
    std::string_view json, const JsonSpecSource& source = {"training", "training"});

}  // namespace trainyard

#endif  // TRAINYARD_CORE_SPEC_JSON_H_
