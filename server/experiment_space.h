// Expanding an experiment's search space (experiment.proto's SearchSpace)
// over a base model spec and training config into concrete trials.
//
// Pure: no I/O, no clock, no global state. The same space, base and seed give
// the same trials, value for value, on every platform (the draws use
// core/rng.h, not <random>'s implementation-defined distributions).
//
//   absl::StatusOr<std::vector<ExperimentTrial>> trials =
//       ExpandSearchSpace(space, base_model, base_training, {});
//   for (const ExperimentTrial& t : *trials) submit(t.model, t.training);
//
// Every failure is INVALID_ARGUMENT naming the field: the space's own fields
// as "search_space.parameters[1].path: ...", a value that does not fit the
// field it is applied to as "trial 3: search_space.parameters[0]
// (training.epochs = 2.5): ...". Expansion does not check that a trial makes
// a valid job (units > 0, a loss that fits the data...): that is the job
// validation's work, run on each trial by whoever submits it.
#ifndef TRAINYARD_SERVER_EXPERIMENT_SPACE_H_
#define TRAINYARD_SERVER_EXPERIMENT_SPACE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainyard/v1/experiment.pb.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard::server {

struct ExpansionOptions {
  // Most trials one space may expand to: a larger grid, or a RANDOM trial
  // count above it, is refused before anything is built. >= 1.
  int max_trials = 1000;
  // How the space is named in messages (the request field that holds it).
  std::string field_name = "search_space";
};

struct ExperimentTrial {
  int index = 0;  // 0-based, in expansion order
  v1::ModelSpec model;
  v1::TrainingConfig training;
  // One entry per search parameter, in the space's order; paths in canonical
  // form (proto field names, e.g. training.optimizer.learning_rate).
  std::vector<v1::HyperParameter> hyper_parameters;
};

// The trials of `space` applied to the base. GRID: the cartesian product, the
// first parameter varying slowest. RANDOM: space.trials() draws seeded by
// space.seed(); trial i's draws depend only on the seed and i.
absl::StatusOr<std::vector<ExperimentTrial>> ExpandSearchSpace(
    const v1::SearchSpace& space, const v1::ModelSpec& base_model,
    const v1::TrainingConfig& base_training, const ExpansionOptions& options);

// The canonical form of a parameter path (proto field names, indexes kept),
// or INVALID_ARGUMENT naming `field` if it does not resolve against
// ModelSpec / TrainingConfig.
absl::StatusOr<std::string> CanonicalParameterPath(const std::string& path,
                                                   const std::string& field);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_EXPERIMENT_SPACE_H_
