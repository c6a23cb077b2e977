// Ranking checkpoints by a metric of the epoch before they were saved: the
// one definition of "best" that the server's retention (keep_best) and the
// CLI's JOB:best both use, so the two never disagree.
#ifndef TRAINYARD_CORE_CHECKPOINT_RANK_H_
#define TRAINYARD_CORE_CHECKPOINT_RANK_H_

#include <optional>

#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// `summary`'s value of `metric` as a score where higher is better (losses
// negated). nullopt when the summary does not have it: val_* without
// validation data (stored as -1), accuracy of a regression loss (-1), a
// non-finite value, or RETENTION_METRIC_UNSPECIFIED. Callers pass only
// summaries that are set (a checkpoint saved before any epoch ended has
// none, and so no score).
std::optional<double> MetricScore(const v1::EpochSummary& summary, v1::RetentionMetric metric);

// The metric "best" means for a job trained with `training`: its retention
// metric when set, else the validation loss when the job has validation
// data (a validation dataset, or a validation_fraction > 0), else the
// training loss.
v1::RetentionMetric BestMetric(const v1::TrainingConfig& training, bool has_validation_dataset);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_CHECKPOINT_RANK_H_
