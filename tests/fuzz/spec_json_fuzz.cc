// The JSON parsers of core/spec_json.h and the validation that follows them
// everywhere (the CLI's --model/--training files, client/args.cc; the tests),
// so that no text makes parse-then-validate misbehave:
//
//   byte 0 odd ('m'):   the rest is a ModelSpec  -> ValidateModelSpec
//   byte 0 even ('t'):  the rest is a TrainingConfig -> ValidateTrainingConfig
//
// The JSON parser itself is libprotobuf's (not instrumented for coverage);
// what gets coverage feedback is the validation of whatever it accepts.
// spec_json.dict holds the field and enum names.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/spec_json.h"
#include "core/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    absl::StatusOr<trainyard::v1::ModelSpec> spec = trainyard::ParseModelSpecJson(json);
    if (!spec.ok()) return 0;
    // Counting, not allocating: the default (library) limits are safe here.
    absl::StatusOr<int> outputs = trainyard::ValidateModelSpec(*spec);
    if (outputs.ok() && *outputs < 1) __builtin_trap();  // a valid model has outputs
  } else {
    absl::StatusOr<trainyard::v1::TrainingConfig> config =
        trainyard::ParseTrainingConfigJson(json);
    if (!config.ok()) return 0;
    trainyard::ValidateTrainingConfig(*config).IgnoreError();  // any verdict is fine
  }
  return 0;
}
