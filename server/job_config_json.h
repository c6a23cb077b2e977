// The JSON forms of a job's config (SubmitJobRequest.model_json and
// training_json): parsed strictly into the typed messages before anything
// else looks at the request, so that validation, the memory estimate,
// validate_only and request_id apply to both forms alike. Shared with every
// request that embeds a job (an experiment's base job).
#ifndef TRAINYARD_SERVER_JOB_CONFIG_JSON_H_
#define TRAINYARD_SERVER_JOB_CONFIG_JSON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// Moves model_json into model and training_json into training (clearing the
// JSON fields). Setting both forms of one is INVALID_ARGUMENT naming both.
// `prefix` is where the request sits in the caller's message ("" for
// SubmitJob, "base." for an embedded job) and starts every field it names:
// "base.training_json: training.epochz: unknown field (line 2, column 3)".
// On error `request` is unchanged.
absl::Status ParseJobConfigJson(v1::SubmitJobRequest* request, absl::string_view prefix = "");

// `status` (from checking the parsed request) with the position of the field
// it starts with, when that field came from one of the JSON texts:
// "training.epochs must be >= 1, got 0" becomes
// "training.epochs must be >= 1, got 0 (training_json line 3, column 3)".
// Other statuses are returned as they are.
absl::Status WithJsonPosition(const absl::Status& status, absl::string_view model_json,
                              absl::string_view training_json, absl::string_view prefix = "");

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_JOB_CONFIG_JSON_H_
