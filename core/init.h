// Weight initialisers (fan-in based, as in the lecture).
#ifndef TRAINYARD_CORE_INIT_H_
#define TRAINYARD_CORE_INIT_H_

#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"
#include "trainyard/v1/model.pb.h"

namespace trainyard {

// The initialiser INITIALIZER_DEFAULT stands for, given the activation that
// follows the layer: Kaiming for RELU/LEAKY_RELU, Xavier otherwise.
v1::Initializer ResolveInitializer(v1::Initializer init,
                                   v1::ActivationKind next_activation);

// Fills w[0..n) from `init` with fan-in `fan_in`:
//   XAVIER_NORMAL N(0, 1/fan_in), XAVIER_UNIFORM U[+-sqrt(3/fan_in)],
//   KAIMING_NORMAL N(0, 2/fan_in), KAIMING_UNIFORM U[+-sqrt(6/fan_in)], ZEROS.
// REQUIRES: init != INITIALIZER_DEFAULT (resolve first), fan_in > 0.
void InitializeWeights(v1::Initializer init, int fan_in, Rng& rng, Scalar* w,
                       int64_t n);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_INIT_H_
