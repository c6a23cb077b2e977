#include "client/args.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/errors.h"
#include "core/data/file_util.h"
#include "client/config_override.h"

namespace trainyard::client {
namespace {

absl::StatusOr<v1::Preprocessing> ParsePreprocessing(const std::string& text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower.empty() || lower == "none") return v1::PREPROCESSING_NONE;
  if (lower == "scale01") return v1::SCALE_01;
  if (lower == "standardize") return v1::STANDARDIZE;
  return UsageError(absl::StrCat("--preprocessing: '", text,
                                 "' is not one of none, scale01, standardize"));
}

}  // namespace

absl::StatusOr<DatasetUpload> BuildDatasetUpload(const DatasetUploadArgs& args) {
  if (args.file.empty()) return UsageError("datasets upload: FILE is required");
  std::string format = absl::AsciiStrToLower(args.format);
  if (format.empty()) format = args.labels_file.empty() ? "csv" : "idx";
  absl::StatusOr<v1::Preprocessing> preprocessing = ParsePreprocessing(args.preprocessing);
  if (!preprocessing.ok()) return preprocessing.status();

  DatasetUpload upload;
  v1::DatasetHeader& header = upload.header;
  header.set_name(args.name.empty()
                      ? std::filesystem::path(args.file).filename().string()
                      : args.name);
  if (header.name().empty() || header.name().size() > 128) {
    return UsageError("--name: must be 1..128 characters");
  }
  upload.files.push_back(args.file);
  if (format == "csv") {
    if (!args.labels_file.empty()) {
      return UsageError("--labels is for IDX datasets (--format idx)");
    }
    header.set_format(v1::CSV);
    v1::CsvOptions* csv = header.mutable_csv_options();
    csv->set_has_header(args.header);
    std::string delimiter = args.delimiter;
    if (delimiter == "tab" || delimiter == "\\t") delimiter.assign(1, '\t');  // (assign: GCC 12 -Wrestrict false positive on = "\t")
    if (delimiter.size() > 1) {
      return UsageError(absl::StrCat("--delimiter: '", args.delimiter,
                                     "' is not one character (use 'tab' for a tab)"));
    }
    csv->set_delimiter(delimiter);
    for (const std::string& column : args.label_columns) csv->add_label_columns(column);
    csv->set_label_kind(args.regression ? v1::REGRESSION_TARGETS : v1::CLASS_LABELS);
    csv->set_preprocessing(*preprocessing);
  } else if (format == "idx") {
    if (args.labels_file.empty()) {
      return UsageError("--format idx needs --labels FILE (the IDX labels file)");
    }
    if (args.header || !args.delimiter.empty() || !args.label_columns.empty() ||
        args.regression) {
      return UsageError(
          "--header, --delimiter, --label-column and --regression are for CSV datasets");
    }
    header.set_format(v1::IDX);
    header.set_idx_preprocessing(*preprocessing);
    upload.files.push_back(args.labels_file);
  } else {
    return UsageError(absl::StrCat("--format: '", args.format, "' is not csv or idx"));
  }
  return upload;
}

absl::StatusOr<v1::SubmitJobRequest> BuildSubmitRequest(
    const JobSubmitArgs& args, const std::string& model_text,
    const std::string& training_text, SubmitConfigs* configs) {
  if (args.dataset.empty()) return UsageError("jobs submit: --dataset is required");
  if (!args.init_from.empty() && !args.resume_from.empty()) {
    return UsageError("--init-from and --resume-from exclude each other");
  }
  if (args.resume_from.empty() && (args.model_file.empty() || args.training_file.empty())) {
    return UsageError("jobs submit: --model and --training are required (unless --resume-from)");
  }
  if (args.validate_only && args.wait) {
    return UsageError("--validate-only starts no job, so --wait has nothing to wait for");
  }
  if (args.priority < -100 || args.priority > 100) {
    return UsageError("--priority: must be in [-100, 100]");
  }
  if (args.threads < 0) return UsageError("--threads: must be >= 0 (0: server default)");
  if (args.request_id.size() > 128 || args.name.size() > 128) {
    return UsageError("--request-id and --name: at most 128 characters");
  }
  SubmitConfigs loaded;
  if (!args.model_file.empty()) {
    absl::StatusOr<ConfigFile> file =
        ConfigFile::Load("--model", "model", args.model_file, model_text);
    if (!file.ok()) return file.status();
    loaded.model = *std::move(file);
  }
  if (!args.training_file.empty()) {
    absl::StatusOr<ConfigFile> file =
        ConfigFile::Load("--training", "training", args.training_file, training_text);
    if (!file.ok()) return file.status();
    loaded.training = *std::move(file);
  }
  for (const std::string& set : args.sets) {
    absl::StatusOr<ConfigOverride> edit = ParseOverride(set);
    if (!edit.ok()) return edit.status();
    const bool model = edit->root == "model";
    std::optional<ConfigFile>& file = model ? loaded.model : loaded.training;
    if (!file) {
      return UsageError(absl::StrCat("--set ", set, ": needs ", model ? "--model" : "--training",
                                     " FILE to edit"));
    }
    const google::protobuf::Descriptor* type =
        model ? v1::ModelSpec::descriptor() : v1::TrainingConfig::descriptor();
    if (absl::Status s = ApplyOverride(*edit, type, &*file); !s.ok()) return s;
  }
  v1::SubmitJobRequest request;
  if (loaded.model) request.set_model_json(loaded.model->WireJson());
  if (loaded.training) request.set_training_json(loaded.training->WireJson());
  request.set_request_id(args.request_id);
  request.set_name(args.name);
  request.set_priority(args.priority);
  request.set_threads(args.threads);
  request.set_init_from_checkpoint_id(args.init_from);
  request.set_resume_from_checkpoint_id(args.resume_from);
  request.set_validate_only(args.validate_only);
  *configs = std::move(loaded);
  return request;
}

absl::Status ExplainSubmitError(const absl::Status& status, const SubmitConfigs& configs) {
  if (status.ok()) return status;
  std::string message(status.message());
  if (configs.model) message = configs.model->Explain(message);
  if (configs.training) message = configs.training->Explain(message);
  return absl::Status(status.code(), message);
}

absl::StatusOr<std::string> ReadLocalFile(const std::string& flag,
                                          const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return LocalInputError(absl::StatusCode::kNotFound,
                           absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  return text;
}

}  // namespace trainyard::client
