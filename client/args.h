// Command-line arguments to requests: the checks and conversions that need
// no server, kept pure so that every usage error is unit-tested.
#ifndef TRAINYARD_CLIENT_ARGS_H_
#define TRAINYARD_CLIENT_ARGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/config_file.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

struct DatasetUploadArgs {
  std::string file;
  std::string name;          // empty: the file's base name
  std::string format;        // "", "csv" or "idx"; empty: idx when --labels is given
  std::string labels_file;   // IDX labels file
  bool header = false;
  std::string delimiter;     // one character, or "tab"/"\t"; empty: ","
  std::vector<std::string> label_columns;
  bool regression = false;
  std::string preprocessing;  // "", "none", "scale01", "standardize"
};

struct DatasetUpload {
  v1::DatasetHeader header;
  std::vector<std::string> files;  // CSV: one; IDX: images then labels
};

absl::StatusOr<DatasetUpload> BuildDatasetUpload(const DatasetUploadArgs& args);

struct JobSubmitArgs {
  std::string model_file;
  std::string training_file;
  std::string dataset;             // name or id, resolved by the caller
  std::string validation_dataset;  // name or id, optional
  std::string name;
  int priority = 0;
  int threads = 0;
  std::string request_id;
  std::string init_from;
  std::string resume_from;
  bool validate_only = false;
  bool wait = false;
  std::vector<std::string> sets;  // --set PATH=VALUE, applied in order
};

// The config files of one submission, kept to explain the server's answer.
struct SubmitConfigs {
  std::optional<ConfigFile> model, training;
};

// Checks flag combinations, loads the config files' texts (JSON or YAML;
// empty text: the file was not given), applies --set and fills everything
// but the dataset ids. The configs travel as model_json/training_json, which
// the server parses strictly; `configs` receives the loaded files.
absl::StatusOr<v1::SubmitJobRequest> BuildSubmitRequest(const JobSubmitArgs& args,
                                                        const std::string& model_text,
                                                        const std::string& training_text,
                                                        SubmitConfigs* configs);

// The server's refusal of a submission, its message pointing into the
// user's files (ConfigFile::Explain); the code is kept.
absl::Status ExplainSubmitError(const absl::Status& status, const SubmitConfigs& configs);

// The whole file; a usage error naming `flag` when it cannot be read.
absl::StatusOr<std::string> ReadLocalFile(const std::string& flag,
                                          const std::string& path);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_ARGS_H_
