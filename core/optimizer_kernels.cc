// The optimisers' update loops (see optimizer_kernels.h). Compiled with
// -fno-math-errno (core/CMakeLists.txt): otherwise GCC keeps a scalar branch
// after every sqrt to set errno for negative inputs, which stops the
// Adagrad/RMSprop/Adam loops from vectorising. The result of sqrt is the same
// correctly rounded value either way.
#include "core/optimizer_kernels.h"

#include <cmath>

namespace trainyard::internal {

template <bool kMomentum, bool kNesterov>
void SgdUpdate(Scalar* __restrict p, const Scalar* __restrict g,
               Scalar* __restrict buf, int64_t n, const SgdCoeffs& c) {
  for (int64_t i = 0; i < n; ++i) {
    Scalar d = g[i] + c.weight_decay * p[i];
    if constexpr (kMomentum) {
      const Scalar b = buf[i] * c.buf_decay + c.buf_gain * d;
      buf[i] = b;
      if constexpr (kNesterov) {
        d = d + c.momentum * b;
      } else {
        d = b;
      }
    }
    p[i] = p[i] + c.neg_lr * d;
  }
}

template void SgdUpdate<false, false>(Scalar*, const Scalar*, Scalar*, int64_t,
                                      const SgdCoeffs&);
template void SgdUpdate<true, false>(Scalar*, const Scalar*, Scalar*, int64_t,
                                     const SgdCoeffs&);
template void SgdUpdate<true, true>(Scalar*, const Scalar*, Scalar*, int64_t,
                                    const SgdCoeffs&);

void AdagradUpdate(Scalar* __restrict p, const Scalar* __restrict g,
                   Scalar* __restrict sum, int64_t n, const AdagradCoeffs& c) {
  for (int64_t i = 0; i < n; ++i) {
    const Scalar d = g[i] + c.weight_decay * p[i];
    const Scalar s = sum[i] + d * d;
    sum[i] = s;
    p[i] = p[i] + c.neg_lr * d / (std::sqrt(s) + c.eps);
  }
}

template <bool kCentered, bool kMomentum>
void RmspropUpdate(Scalar* __restrict p, const Scalar* __restrict g,
                   Scalar* __restrict square_avg, Scalar* __restrict grad_avg,
                   Scalar* __restrict buf, int64_t n, const RmspropCoeffs& c) {
  for (int64_t i = 0; i < n; ++i) {
    const Scalar d = g[i] + c.weight_decay * p[i];
    const Scalar sq = square_avg[i] * c.alpha + c.one_minus_alpha * d * d;
    square_avg[i] = sq;
    Scalar avg;
    if constexpr (kCentered) {
      const Scalar ga = grad_avg[i] * c.alpha + c.one_minus_alpha * d;
      grad_avg[i] = ga;
      avg = std::sqrt(sq + Scalar(-1) * ga * ga) + c.eps;
    } else {
      avg = std::sqrt(sq) + c.eps;
    }
    if constexpr (kMomentum) {
      const Scalar b = buf[i] * c.momentum + d / avg;
      buf[i] = b;
      p[i] = p[i] + c.neg_lr * b;
    } else {
      p[i] = p[i] + c.neg_lr * d / avg;
    }
  }
}

template void RmspropUpdate<false, false>(Scalar*, const Scalar*, Scalar*, Scalar*,
                                          Scalar*, int64_t, const RmspropCoeffs&);
template void RmspropUpdate<false, true>(Scalar*, const Scalar*, Scalar*, Scalar*,
                                         Scalar*, int64_t, const RmspropCoeffs&);
template void RmspropUpdate<true, false>(Scalar*, const Scalar*, Scalar*, Scalar*,
                                         Scalar*, int64_t, const RmspropCoeffs&);
template void RmspropUpdate<true, true>(Scalar*, const Scalar*, Scalar*, Scalar*,
                                        Scalar*, int64_t, const RmspropCoeffs&);

void AdamUpdate(Scalar* __restrict p, const Scalar* __restrict g,
                Scalar* __restrict m, Scalar* __restrict v, int64_t n,
                const AdamCoeffs& c) {
  for (int64_t i = 0; i < n; ++i) {
    const Scalar pi = p[i] * c.param_scale;
    const Scalar d = g[i] + c.weight_decay * pi;
    const Scalar mi = m[i] * c.beta1 + c.one_minus_beta1 * d;
    const Scalar vi = v[i] * c.beta2 + c.one_minus_beta2 * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + c.neg_step_size * mi / (std::sqrt(vi) / c.bias_correction2_sqrt + c.eps);
  }
}

}  // namespace trainyard::internal
