// `trainyard jobs compare`: finished (or running) jobs side by side — final
// and best metrics, and only the hyper-parameters that differ between them,
// each as a column named by its field path (training.optimizer.adam.beta1).
#ifndef TRAINYARD_CLIENT_COMPARE_H_
#define TRAINYARD_CLIENT_COMPARE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

// A job and its epoch summaries.
struct JobRun {
  v1::Job job;
  // One per epoch, in epoch order (the last summary of an epoch wins: a
  // resumed job may report an epoch again).
  std::vector<v1::EpochSummary> epochs;
};

// The epoch summaries among `events`, as JobRun::epochs wants them.
std::vector<v1::EpochSummary> EpochHistory(const std::vector<v1::JobEvent>& events);

// The job's configuration as field path -> value: every set field of
// `model` and `training` (paths "model.layers[0].dense.units",
// "training.optimizer.adam.beta1"), each set oneof as its own entry naming the
// chosen field ("training.optimizer" -> "adam", "model.layers[0]" ->
// "dense"), plus dataset_id and validation_dataset_id.
std::map<std::string, std::string> FlattenConfig(const v1::Job& job);

// Metrics a comparison can rank by: train_loss, train_accuracy, val_loss,
// val_accuracy. Losses rank lowest first, accuracies highest first.
bool IsRankingMetric(const std::string& name);
// val_accuracy when any run has it, else val_loss when any has, else train_loss.
std::string DefaultRankingMetric(const std::vector<JobRun>& runs);

struct BestValue {
  double value = 0;
  int epoch = 0;
};
// The best epoch value of `metric` in `run` (not applicable values, -1, skipped).
std::optional<BestValue> Best(const JobRun& run, const std::string& metric);

struct Comparison {
  std::string metric;
  // Paths whose value is not the same in every run, sorted.
  std::vector<std::string> varied;
  // Best first by `metric`; runs without it last, in the given order.
  std::vector<const JobRun*> ranked;
};
// `metric` must satisfy IsRankingMetric (a usage error names --metric).
absl::StatusOr<Comparison> Compare(const std::vector<JobRun>& runs, const std::string& metric);

// The text table: JOB NAME STATE EPOCHS TRAIN_LOSS VAL_LOSS VAL_ACC BEST_<METRIC> @EPOCH,
// then one column per varied path (values of runs without the path: "-").
std::vector<std::vector<std::string>> ComparisonTable(const Comparison& comparison);
// The same as one JSON document (a Struct: {"metric", "varied", "jobs": [...]}).
google::protobuf::Struct ComparisonJson(const Comparison& comparison);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_COMPARE_H_
