// Internal: the optimisers' update loops as plain functions over the flat
// parameter, gradient and state buffers (all n long, non-overlapping).
//
// Each loop is branch-free and uses restrict pointers so that the compiler
// vectorises it; the variants (momentum or not, centred or not) are template
// parameters chosen once per step, outside the loop. The coefficients arrive
// already rounded to Scalar, exactly where PyTorch rounds its Python-float
// hyper-parameters to the tensor's dtype, and each expression keeps PyTorch's
// operation order (add_(x, alpha=a) is self + a*x; addcmul_(a, b, value=v) is
// self + v*a*b; addcdiv_(a, b, value=v) is self + v*a/b).
#ifndef TRAINYARD_CORE_OPTIMIZER_KERNELS_H_
#define TRAINYARD_CORE_OPTIMIZER_KERNELS_H_

#include <cstdint>

#include "core/tensor.h"

namespace trainyard::internal {

struct SgdCoeffs {
  Scalar weight_decay;  // d = g + weight_decay * p
  Scalar buf_decay;     // buf = buf_decay * buf + buf_gain * d
  Scalar buf_gain;      //   (0 and 1 on the first step: buf = d, like PyTorch)
  Scalar momentum;      // Nesterov: d = d + momentum * buf
  Scalar neg_lr;        // p = p + neg_lr * d
};

// kMomentum false: buf is unused and may be null.
template <bool kMomentum, bool kNesterov>
void SgdUpdate(Scalar* __restrict p, const Scalar* __restrict g,
               Scalar* __restrict buf, int64_t n, const SgdCoeffs& c);

struct AdagradCoeffs {
  Scalar weight_decay;
  Scalar eps;     // std = sqrt(sum) + eps
  Scalar neg_lr;  // p = p + neg_lr * d / std
};

void AdagradUpdate(Scalar* __restrict p, const Scalar* __restrict g,
                   Scalar* __restrict sum, int64_t n, const AdagradCoeffs& c);

struct RmspropCoeffs {
  Scalar weight_decay;
  Scalar alpha;            // square_avg = alpha * square_avg + one_minus_alpha * d * d
  Scalar one_minus_alpha;
  Scalar eps;              // avg = sqrt(square_avg [- grad_avg^2]) + eps
  Scalar momentum;         // buf = momentum * buf + d / avg
  Scalar neg_lr;
};

// kCentered false: grad_avg may be null. kMomentum false: buf may be null.
template <bool kCentered, bool kMomentum>
void RmspropUpdate(Scalar* __restrict p, const Scalar* __restrict g,
                   Scalar* __restrict square_avg, Scalar* __restrict grad_avg,
                   Scalar* __restrict buf, int64_t n, const RmspropCoeffs& c);

struct AdamCoeffs {
  Scalar param_scale;          // AdamW: p = param_scale * p first (1 for Adam)
  Scalar weight_decay;         // Adam: d = g + weight_decay * p (0 for AdamW)
  Scalar beta1, one_minus_beta1;
  Scalar beta2, one_minus_beta2;
  Scalar bias_correction2_sqrt;  // denom = sqrt(v) / bias_correction2_sqrt + eps
  Scalar eps;
  Scalar neg_step_size;        // p = p + neg_step_size * m / denom
};

void AdamUpdate(Scalar* __restrict p, const Scalar* __restrict g,
                Scalar* __restrict m, Scalar* __restrict v, int64_t n,
                const AdamCoeffs& c);

}  // namespace trainyard::internal

#endif  // TRAINYARD_CORE_OPTIMIZER_KERNELS_H_
