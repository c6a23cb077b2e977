// Optimizer::Create (through the one spec validator and the one set of
// learning-rate and weight-decay defaults, core/validate.h), the five
// optimisers as thin classes over the loops in optimizer_kernels.cc, and
// ClipGradNorm.
//
// Hyper-parameters are kept in double and rounded to Scalar once per step,
// where PyTorch rounds its Python floats; scalar-only arithmetic (Adam's bias
// corrections, AdamW's 1 - lr*wd) is done in double as PyTorch does. The
// proto's float-typed ones are read through HyperParameter
// (core/training_defaults.h), so a set 0.999 is the double 0.999, the same as
// the unset default.
// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512
// reduction packets (GCC bug 105593) once inlined into ClipGradNorm; the
// warning points into the intrinsics header, so the pragma precedes the includes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "core/optimizer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/optimizer_kernels.h"
#include "core/training_defaults.h"
#include "core/validate.h"

namespace trainyard {
namespace {

using internal::AdagradCoeffs;
using internal::AdamCoeffs;
using internal::RmspropCoeffs;
using internal::SgdCoeffs;

using StateList = std::vector<std::pair<std::string, std::vector<Scalar>*>>;

// ---- SGD (torch.optim.SGD).
class Sgd final : public Optimizer {
 public:
  Sgd(double lr, double wd, const v1::SgdOptimizer& s, int64_t n)
      : Optimizer(lr, wd),
        momentum_(HyperParameter(s.momentum())),
        dampening_(HyperParameter(s.dampening())),
        nesterov_(s.nesterov()),
        n_(n) {
    if (momentum_ != 0) buf_.assign(static_cast<size_t>(n), Scalar(0));
  }

  void Step(Scalar* params, const Scalar* grads, double lr) override {
    // PyTorch starts the momentum buffer as a copy of the first gradient
    // (no dampening), expressed here as decay 0, gain 1 on step 0.
    const bool first = steps_ == 0;
    const SgdCoeffs c{static_cast<Scalar>(weight_decay()),
                      first ? Scalar(0) : static_cast<Scalar>(momentum_),
                      first ? Scalar(1) : static_cast<Scalar>(1.0 - dampening_),
                      static_cast<Scalar>(momentum_), static_cast<Scalar>(-lr)};
    if (momentum_ == 0) {
      internal::SgdUpdate<false, false>(params, grads, nullptr, n_, c);
    } else if (nesterov_) {
      internal::SgdUpdate<true, true>(params, grads, buf_.data(), n_, c);
    } else {
      internal::SgdUpdate<true, false>(params, grads, buf_.data(), n_, c);
    }
    ++steps_;
  }

  StateList StateBuffers() override {
    if (momentum_ == 0) return {};
    return {{"momentum_buffer", &buf_}};
  }

 private:
  double momentum_, dampening_;
  bool nesterov_;
  int64_t n_;
  std::vector<Scalar> buf_;
};

// ---- Adagrad (torch.optim.Adagrad with lr_decay 0).
class Adagrad final : public Optimizer {
 public:
  Adagrad(double lr, double wd, const v1::AdagradOptimizer& s, int64_t n)
      : Optimizer(lr, wd),
        eps_(s.has_epsilon() ? HyperParameter(s.epsilon()) : 1e-10),
        n_(n),
        sum_(static_cast<size_t>(n), static_cast<Scalar>(HyperParameter(s.initial_accumulator_value()))) {}

  void Step(Scalar* params, const Scalar* grads, double lr) override {
    const AdagradCoeffs c{static_cast<Scalar>(weight_decay()), static_cast<Scalar>(eps_),
                          static_cast<Scalar>(-lr)};
    internal::AdagradUpdate(params, grads, sum_.data(), n_, c);
    ++steps_;
  }

  StateList StateBuffers() override { return {{"sum", &sum_}}; }

 private:
  double eps_;
  int64_t n_;
  std::vector<Scalar> sum_;
};

// ---- RMSprop (torch.optim.RMSprop).
class Rmsprop final : public Optimizer {
 public:
  Rmsprop(double lr, double wd, const v1::RmspropOptimizer& s, int64_t n)
      : Optimizer(lr, wd),
        alpha_(s.has_alpha() ? HyperParameter(s.alpha()) : 0.99),
        eps_(s.has_epsilon() ? HyperParameter(s.epsilon()) : 1e-8),
        momentum_(HyperParameter(s.momentum())),
        centered_(s.centered()),
        n_(n),
        square_avg_(static_cast<size_t>(n), Scalar(0)) {
    if (momentum_ > 0) buf_.assign(static_cast<size_t>(n), Scalar(0));
    if (centered_) grad_avg_.assign(static_cast<size_t>(n), Scalar(0));
  }

  void Step(Scalar* params, const Scalar* grads, double lr) override {
    const RmspropCoeffs c{static_cast<Scalar>(weight_decay()), static_cast<Scalar>(alpha_),
                          static_cast<Scalar>(1.0 - alpha_), static_cast<Scalar>(eps_),
                          static_cast<Scalar>(momentum_), static_cast<Scalar>(-lr)};
    Scalar* sq = square_avg_.data();
    Scalar* ga = grad_avg_.data();
    Scalar* buf = buf_.data();
    const bool momentum = momentum_ > 0;
    if (centered_) {
      if (momentum) {
        internal::RmspropUpdate<true, true>(params, grads, sq, ga, buf, n_, c);
      } else {
        internal::RmspropUpdate<true, false>(params, grads, sq, ga, buf, n_, c);
      }
    } else if (momentum) {
      internal::RmspropUpdate<false, true>(params, grads, sq, ga, buf, n_, c);
    } else {
      internal::RmspropUpdate<false, false>(params, grads, sq, ga, buf, n_, c);
    }
    ++steps_;
  }

  StateList StateBuffers() override {
    StateList list = {{"square_avg", &square_avg_}};
    if (momentum_ > 0) list.emplace_back("momentum_buffer", &buf_);
    if (centered_) list.emplace_back("grad_avg", &grad_avg_);
    return list;
  }

 private:
  double alpha_, eps_, momentum_;
  bool centered_;
  int64_t n_;
  std::vector<Scalar> square_avg_, grad_avg_, buf_;
};

// ---- Adam and AdamW (torch.optim.Adam / AdamW, amsgrad off).
class Adam final : public Optimizer {
 public:
  Adam(double lr, double wd, const v1::AdamOptimizer& s, bool decoupled, int64_t n)
      : Optimizer(lr, wd),
        beta1_(s.has_beta1() ? HyperParameter(s.beta1()) : 0.9),
        beta2_(s.has_beta2() ? HyperParameter(s.beta2()) : 0.999),
        eps_(s.has_epsilon() ? HyperParameter(s.epsilon()) : 1e-8),
        decoupled_(decoupled),
        n_(n),
        m_(static_cast<size_t>(n), Scalar(0)),
        v_(static_cast<size_t>(n), Scalar(0)) {}

  void Step(Scalar* params, const Scalar* grads, double lr) override {
    const double t = static_cast<double>(steps_ + 1);
    const double bias_correction1 = 1 - std::pow(beta1_, t);
    const double bias_correction2 = 1 - std::pow(beta2_, t);
    const double wd = weight_decay();
    const AdamCoeffs c{
        decoupled_ ? static_cast<Scalar>(1 - lr * wd) : Scalar(1),
        decoupled_ ? Scalar(0) : static_cast<Scalar>(wd),
        static_cast<Scalar>(beta1_),
        static_cast<Scalar>(1 - beta1_),
        static_cast<Scalar>(beta2_),
        static_cast<Scalar>(1 - beta2_),
        static_cast<Scalar>(std::sqrt(bias_correction2)),
        static_cast<Scalar>(eps_),
        static_cast<Scalar>(-(lr / bias_correction1))};
    internal::AdamUpdate(params, grads, m_.data(), v_.data(), n_, c);
    ++steps_;
  }

  StateList StateBuffers() override { return {{"exp_avg", &m_}, {"exp_avg_sq", &v_}}; }

 private:
  double beta1_, beta2_, eps_;
  bool decoupled_;
  int64_t n_;
  std::vector<Scalar> m_, v_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const v1::OptimizerSpec& spec,
                                                             int64_t num_params) {
  // Public API, so it does not trust its caller: the one validator
  // (validate_training.cc) and the one set of defaults (training_defaults.h).
  if (absl::Status s = ValidateOptimizerSpec(spec); !s.ok()) return s;
  if (num_params < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_params must be >= 0, got ", num_params));
  }
  const double lr = EffectiveLearningRate(spec);
  const double wd = EffectiveWeightDecay(spec);
  switch (spec.kind_case()) {
    case v1::OptimizerSpec::kSgd:
      return std::make_unique<Sgd>(lr, wd, spec.sgd(), num_params);
    case v1::OptimizerSpec::kAdagrad:
      return std::make_unique<Adagrad>(lr, wd, spec.adagrad(), num_params);
    case v1::OptimizerSpec::kRmsprop:
      return std::make_unique<Rmsprop>(lr, wd, spec.rmsprop(), num_params);
    case v1::OptimizerSpec::kAdam:
      return std::make_unique<Adam>(lr, wd, spec.adam(), /*decoupled=*/false, num_params);
    case v1::OptimizerSpec::kAdamw:
      return std::make_unique<Adam>(lr, wd, spec.adamw(), /*decoupled=*/true, num_params);
    case v1::OptimizerSpec::KIND_NOT_SET:
      break;
  }
  return absl::InternalError("unreachable: optimizer kind validated above");
}

double ClipGradNorm(Scalar* grads, int64_t n, double max_norm) {
  // Vectorised Scalar sums over blocks, accumulated in double: one float
  // accumulator over millions of gradients would lose the small ones.
  constexpr int64_t kBlock = 4096;
  double sum_sq = 0;
  for (int64_t i = 0; i < n; i += kBlock) {
    sum_sq += ConstVectorMap(grads + i, std::min(kBlock, n - i)).squaredNorm();
  }
  const double norm = std::sqrt(sum_sq);
  if (max_norm <= 0) return norm;
  const double factor = max_norm / (norm + 1e-6);
  // A NaN/Inf norm leaves the gradients as they are, for the trainer's
  // non-finite check to report (PyTorch would zero or NaN all of them).
  if (std::isfinite(norm) && factor < 1) VectorMap(grads, n) *= static_cast<Scalar>(factor);
  return norm;
}

}  // namespace trainyard
