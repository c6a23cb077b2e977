// Parsing user-written JSON specs (the protobuf JSON mapping: field names in
// snake_case or lowerCamelCase, enums by name). Shared by the CLI, the server
// and the tests so that all of them accept and reject the same text. Parsing
// checks syntax and field names only; the values are ValidateModelSpec's and
// ValidateTrainingConfig's job.
#ifndef TRAINYARD_CORE_SPEC_JSON_H_
#define TRAINYARD_CORE_SPEC_JSON_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Unknown field names (typos) are errors, not silently ignored. Every failure
// is INVALID_ARGUMENT carrying the parser's message.
absl::StatusOr<v1::ModelSpec> ParseModelSpecJson(std::string_view json);
absl::StatusOr<v1::TrainingConfig> ParseTrainingConfigJson(std::string_view json);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_SPEC_JSON_H_
