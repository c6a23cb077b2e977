#include "core/init.h"

#include <cassert>
#include <cmath>

namespace trainyard {

v1::Initializer ResolveInitializer(v1::Initializer init,
                                   v1::ActivationKind next_activation) {
  if (init != v1::INITIALIZER_DEFAULT) return init;
  // He et al.: ReLU halves the variance of what passes through, so the ReLU
  // family needs twice Xavier's variance to keep activations from shrinking.
  if (next_activation == v1::RELU || next_activation == v1::LEAKY_RELU) {
    return v1::KAIMING_NORMAL;
  }
  return v1::XAVIER_NORMAL;
}

void InitializeWeights(v1::Initializer init, int fan_in, Rng& rng, Scalar* w,
                       int64_t n) {
  assert(init != v1::INITIALIZER_DEFAULT && fan_in > 0);
  const double inv_fan_in = 1.0 / static_cast<double>(fan_in);
  switch (init) {
    case v1::XAVIER_NORMAL:
    case v1::KAIMING_NORMAL: {
      const double stddev =
          std::sqrt((init == v1::KAIMING_NORMAL ? 2.0 : 1.0) * inv_fan_in);
      for (int64_t i = 0; i < n; ++i) w[i] = static_cast<Scalar>(stddev * rng.Normal());
      return;
    }
    case v1::XAVIER_UNIFORM:
    case v1::KAIMING_UNIFORM: {
      // U[-a, a] has variance a^2/3, so a = sqrt(3 var): var 1/n or 2/n.
      const double limit =
          std::sqrt((init == v1::KAIMING_UNIFORM ? 6.0 : 3.0) * inv_fan_in);
      for (int64_t i = 0; i < n; ++i) {
        w[i] = static_cast<Scalar>(rng.Uniform(-limit, limit));
      }
      return;
    }
    case v1::ZEROS:
    default:
      // ZEROS, and any value a newer client sent that this build does not
      // know (validation rejects those before we get here).
      for (int64_t i = 0; i < n; ++i) w[i] = Scalar(0);
      return;
  }
}

}  // namespace trainyard
