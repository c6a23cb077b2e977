// The defaults of unset training-config fields, in one place: the optimisers,
// the trainer, the training plan and the service all read them from here
// (training.proto's comments document the same values).
#ifndef TRAINYARD_CORE_TRAINING_DEFAULTS_H_
#define TRAINYARD_CORE_TRAINING_DEFAULTS_H_

#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Per-step metrics are reported every this many steps when
// TrainingConfig.log_every_steps is unset.
inline constexpr int kDefaultLogEverySteps = 10;

// The learning rate an optimiser uses when the spec leaves it unset: 0.01 for
// SGD, AdaGrad and RMSprop (and an unset kind), 0.001 for Adam and AdamW.
double DefaultLearningRate(const v1::OptimizerSpec& spec);
// The spec's learning rate if set, else DefaultLearningRate(spec).
double EffectiveLearningRate(const v1::OptimizerSpec& spec);
// The spec's weight decay if set, else 0.01 for AdamW and 0 for the others.
double EffectiveWeightDecay(const v1::OptimizerSpec& spec);
// The double a float-typed hyper-parameter field stands for: the double
// nearest the float's shortest round-trip decimal (0.999f, stored as
// 0.99900001287, gives 0.999). A user who wrote 0.999 in JSON meant that
// decimal, and PyTorch would use it as a double; widening the float instead
// would make an explicitly written default train differently from an unset
// one (docs/decisions.md, "Float hyper-parameters"). Exact on every float
// whose decimal is short (0.5f gives 0.5); non-finite values pass through.
double HyperParameter(float value);

// The config's log_every_steps if set, else kDefaultLogEverySteps.
int EffectiveLogEverySteps(const v1::TrainingConfig& config);

// `config` with the defaults a job records filled in: the learning rate and
// log_every_steps (Job.training shows them "with server-side defaults filled
// in"). Weight decay and the optimisers' own hyper-parameters stay unset, as
// they always have in a job's record; their effective values are the
// functions above and the optimisers'.
v1::TrainingConfig WithRecordedDefaults(v1::TrainingConfig config);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TRAINING_DEFAULTS_H_
