#include "server/job_config_json.h"

#include <optional>
#include <string>

#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "core/json_position.h"
#include "core/spec_json.h"

namespace trainyard::server {

absl::Status ParseJobConfigJson(v1::SubmitJobRequest* request, absl::string_view prefix) {
  const bool model_json = !request->model_json().empty();
  const bool training_json = !request->training_json().empty();
  if (model_json && request->has_model()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "model and ", prefix, "model_json are exclusive: set one of them"));
  }
  if (training_json && request->has_training()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "training and ", prefix, "training_json are exclusive: set one of them"));
  }
  std::optional<v1::ModelSpec> model;
  if (model_json) {
    const std::string field = absl::StrCat(prefix, "model_json");
    absl::StatusOr<v1::ModelSpec> parsed =
        ParseModelSpecJson(request->model_json(), {field, "model"});
    if (!parsed.ok()) return parsed.status();
    model = *std::move(parsed);
  }
  if (training_json) {
    const std::string field = absl::StrCat(prefix, "training_json");
    absl::StatusOr<v1::TrainingConfig> parsed =
        ParseTrainingConfigJson(request->training_json(), {field, "training"});
    if (!parsed.ok()) return parsed.status();
    *request->mutable_training() = *std::move(parsed);
    request->clear_training_json();
  }
  if (model) {
    *request->mutable_model() = *std::move(model);
    request->clear_model_json();
  }
  return absl::OkStatus();
}

absl::Status WithJsonPosition(const absl::Status& status, absl::string_view model_json,
                              absl::string_view training_json, absl::string_view prefix) {
  if (status.ok()) return status;
  absl::string_view message = status.message();
  // The field path the message starts with: "training.optimizer.beta1 must ..."
  const size_t end = message.find_first_of(" :");
  absl::string_view path = message.substr(0, end);
  absl::string_view text, field;
  if (absl::ConsumePrefix(&path, "model.")) {
    text = model_json;
    field = "model_json";
  } else if (absl::ConsumePrefix(&path, "training.")) {
    text = training_json;
    field = "training_json";
  }
  if (text.empty() || end == absl::string_view::npos) return status;
  std::optional<JsonLocation> at = FindJsonPath(text, path);
  if (!at) return status;  // a default the text leaves out: nothing to point at
  return absl::Status(status.code(),
                      absl::StrCat(message, " (", prefix, field, " ",
                                   FormatPosition(PositionAt(text, at->value_offset)), ")"));
}

}  // namespace trainyard::server
