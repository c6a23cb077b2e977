// Early stopping across an experiment's trials: median stopping and
// asynchronous successive halving (ASHA), as experiment.proto describes them.
//
// Pure and deterministic: a policy sees (trial, epoch, metric value) reports
// in the order its owner feeds them and says, for each, whether that trial
// should stop now. It keeps no clock and does no I/O, so the owner can
// rebuild one after a restart by replaying the stored epoch summaries.
//
//   auto policy = MakeEarlyStoppingPolicy(spec, metric, /*max_epochs=*/27,
//                                         "early_stopping");
//   StopDecision d = (*policy)->Report(trial, summary.epoch(), value);
//   if (d.stop) cancel(trial, d.reason);  // "early-stopped by ASHA at epoch 3: ..."
//
// Not thread-safe: the owner serialises calls.
#ifndef TRAINYARD_SERVER_EXPERIMENT_STOPPING_H_
#define TRAINYARD_SERVER_EXPERIMENT_STOPPING_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/experiment.pb.h"

namespace trainyard::server {

// OK if `metric` names an epoch-summary field and a mode; else
// INVALID_ARGUMENT naming `field` (e.g. "metric.name").
absl::Status CheckExperimentMetric(const v1::ExperimentMetric& metric, const std::string& field);

// The metric's value in one epoch summary, or nullopt when that epoch has
// none (no validation data, not a classification loss: the summary's -1).
// REQUIRES: CheckExperimentMetric(metric) is OK.
std::optional<double> MetricValue(const v1::ExperimentMetric& metric,
                                  const v1::EpochSummary& summary);

// True if `a` is strictly better than `b` under the metric's mode. NaN is
// worse than every number (a diverged trial ranks last).
bool MetricBetter(v1::ExperimentMetric::Mode mode, double a, double b);

struct StopDecision {
  bool stop = false;
  // When stop: "early-stopped by <policy> at epoch <r>: <why>".
  std::string reason;
};

class EarlyStoppingPolicy {
 public:
  virtual ~EarlyStoppingPolicy() = default;

  // Trial `trial` finished epoch `epoch` (1-based) with `value`. Reports of
  // one trial come in epoch order; the same epoch again (a trial resumed
  // from an earlier checkpoint re-runs it) replaces the earlier value.
  virtual StopDecision Report(int trial, int epoch, double value) = 0;
};

// The policy `spec` asks for, or nullptr when it sets none. `max_epochs` is
// the most epochs any trial runs (ASHA's rungs lie below it). Bad settings
// are INVALID_ARGUMENT naming `field` + ".median.grace_epochs" etc.
// REQUIRES: CheckExperimentMetric(metric) is OK.
absl::StatusOr<std::unique_ptr<EarlyStoppingPolicy>> MakeEarlyStoppingPolicy(
    const v1::ExperimentEarlyStopping& spec, const v1::ExperimentMetric& metric,
    int max_epochs, const std::string& field);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_EXPERIMENT_STOPPING_H_
