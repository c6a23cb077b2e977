// The six losses, each a few whole-batch Eigen expressions. outputs and grad
// are (K, B): K outputs per sample, B samples, one sample per column.
//
// Memory: the only allocation a call may make is the caller's grad (resize is a
// no-op when the shape is unchanged); intermediate per-sample rows live in
// per-thread scratch, so Compute stays const and safe to call from several
// threads.
//
// Bad targets (shape mismatch, a class label that is not an integer in
// [0, K)) make Compute return NaN instead of reading out of bounds: the trainer
// already turns a non-finite loss into a clear job error, and datasets are
// checked against target_kind() before training, so this is a last line of
// defence rather than the user-facing check.
// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512 min/max
// packets (GCC bug 105593, _mm512_undefined_ps) once they are inlined into the
// max/clamp expressions below. The warning points into the intrinsics header,
// so the pragma has to precede the includes; it is scoped to this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "core/loss.h"

#include <cmath>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trainyard {
namespace {

using Array = Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
using RowArray = Eigen::Array<Scalar, 1, Eigen::Dynamic>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per-thread scratch: slot 0..1 are (1, B) rows, the matrix is (K, B) work
// space for losses asked for the value only.
RowArray& ScratchRow(int slot, Eigen::Index cols) {
  thread_local RowArray rows[2];
  rows[slot].resize(1, cols);
  return rows[slot];
}
Matrix& ScratchMatrix(Eigen::Index rows, Eigen::Index cols) {
  thread_local Matrix m;
  m.resize(rows, cols);
  return m;
}

// Where the gradient (or, without one, the work array) goes.
Matrix& WorkFor(Matrix* grad, Eigen::Index rows, Eigen::Index cols) {
  if (grad == nullptr) return ScratchMatrix(rows, cols);
  grad->resize(rows, cols);
  return *grad;
}

bool SameShape(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols();
}

// One label per column, one output row per column (PERCEPTRON, HINGE).
bool SingleRowPair(const Matrix& outputs, const Matrix& targets) {
  return outputs.rows() == 1 && SameShape(outputs, targets);
}

// The answer to a batch the loss cannot score: NaN loss, NaN gradient.
double Refuse(const Matrix& outputs, Matrix* grad) {
  if (grad != nullptr) {
    grad->resize(outputs.rows(), outputs.cols());
    grad->setConstant(std::numeric_limits<Scalar>::quiet_NaN());
  }
  return kNaN;
}

// The skeleton of every loss that is a mean of per-element terms: targets of
// the outputs' shape (one row for kSign), L = sum_i l(s_i, t_i) / n summed in
// double with n = K B (for kSign K = 1, so the mean over the batch), and the
// gradient written in one vectorised pass. A Formula states only its own
// part, as whole-array Eigen expressions over s = outputs and t = targets:
//
//   static constexpr TargetKind kTargets;
//   static constexpr bool kUsesWork;        // false:
//   auto Terms(s, t) const;                 //   l_i, (K, B)
//   auto Gradient(s, t, double n) const;    //   dL/ds_i, (K, B)
//
// A Formula that reuses one (K, B) intermediate in both (BCE's exp(-|s|))
// sets kUsesWork, declares `static auto Work(s)`, and takes the intermediate
// as a third argument w of Terms and Gradient; the skeleton keeps w in grad
// itself (or in scratch when only the value is asked for), so it is computed
// once and the gradient overwrites it in place.
template <typename Formula>
class ElementwiseLoss final : public Loss {
 public:
  explicit ElementwiseLoss(Formula formula = Formula()) : f_(formula) {}
  TargetKind target_kind() const override { return Formula::kTargets; }
  double Compute(const Matrix& outputs, const Matrix& targets,
                 Matrix* grad) const override {
    const bool fits = Formula::kTargets == TargetKind::kSign
                          ? SingleRowPair(outputs, targets)
                          : SameShape(outputs, targets);
    if (!fits || outputs.size() == 0) return Refuse(outputs, grad);
    const double n = static_cast<double>(outputs.size());
    const auto s = outputs.array();
    const auto t = targets.array();
    if constexpr (Formula::kUsesWork) {
      Matrix& work = WorkFor(grad, outputs.rows(), outputs.cols());
      work.array() = Formula::Work(s);
      const double loss =
          f_.Terms(s, t, work.array()).template cast<double>().sum() / n;
      if (grad != nullptr) grad->array() = f_.Gradient(s, t, grad->array(), n);
      return loss;
    } else {
      const double loss = f_.Terms(s, t).template cast<double>().sum() / n;
      if (grad != nullptr) {
        grad->resize(outputs.rows(), outputs.cols());
        grad->array() = f_.Gradient(s, t, n);
      }
      return loss;
    }
  }

 private:
  Formula f_;
};

// L = sum (y - t)^2 / (K B);  dL/dy = 2 (y - t) / (K B). Not an
// ElementwiseLoss: its sum of squares is the Scalar-precision squaredNorm of
// the difference kept in grad (then scaled in place), not a double sum of
// terms, and every MSE result depends on that rounding.
class MseLoss final : public Loss {
 public:
  TargetKind target_kind() const override { return TargetKind::kRegression; }
  double Compute(const Matrix& outputs, const Matrix& targets,
                 Matrix* grad) const override {
    if (!SameShape(outputs, targets) || outputs.size() == 0) {
      return Refuse(outputs, grad);
    }
    const double n = static_cast<double>(outputs.size());
    if (grad == nullptr) return (outputs - targets).squaredNorm() / n;
    grad->resize(outputs.rows(), outputs.cols());
    grad->noalias() = outputs - targets;
    const double loss = grad->squaredNorm() / n;
    *grad *= static_cast<Scalar>(2.0 / n);
    return loss;
  }
};

// Per column b with label c: L_b = logsumexp(s_b) - s_cb, computed as
// log(sum exp(s - m)) + (m - s_c) with m = max(s_b), so no exp overflows and
// large logits (1000) lose no precision to cancellation. L = mean_b L_b;
// dL/ds = (softmax(s) - onehot(c)) / B.
class SoftmaxCrossEntropyLoss final : public Loss {
 public:
  TargetKind target_kind() const override { return TargetKind::kClassIndex; }
  double Compute(const Matrix& outputs, const Matrix& targets,
                 Matrix* grad) const override {
    const Eigen::Index k = outputs.rows(), b = outputs.cols();
    if (targets.rows() != 1 || targets.cols() != b || k == 0 || b == 0) {
      return Refuse(outputs, grad);
    }
    RowArray& max = ScratchRow(0, b);   // (1, B)
    RowArray& sum = ScratchRow(1, b);   // (1, B)
    max = outputs.array().colwise().maxCoeff();
    if (grad != nullptr) {
      grad->resize(k, b);
      grad->array() = (outputs.array().rowwise() - max).exp();  // (K, B)
      sum = grad->array().colwise().sum();
    } else {
      sum = (outputs.array().rowwise() - max).exp().colwise().sum();
    }
    // The gather of each sample's target logit is O(B) scalar work next to the
    // O(K B) vectorised exp above.
    double total = 0;
    for (Eigen::Index j = 0; j < b; ++j) {
      const Scalar label = targets(0, j);
      if (!(label >= 0 && label < static_cast<Scalar>(k)) ||
          label != std::floor(label)) {
        return Refuse(outputs, grad);
      }
      const auto c = static_cast<Eigen::Index>(label);
      total += std::log(static_cast<double>(sum(j))) +
               (static_cast<double>(max(j)) - static_cast<double>(outputs(c, j)));
    }
    if (grad != nullptr) {
      const Scalar inv_b = static_cast<Scalar>(1.0 / static_cast<double>(b));
      sum = sum.inverse() * inv_b;  // 1 / (B * sum_b)
      grad->array().rowwise() *= sum;
      for (Eigen::Index j = 0; j < b; ++j) {
        (*grad)(static_cast<Eigen::Index>(targets(0, j)), j) -= inv_b;
      }
    }
    return total / static_cast<double>(b);
  }
};

// Per element: l = max(s, 0) - s t + log1p(exp(-|s|)) (softplus form, finite
// for any s); dl/ds = sigmoid(s) - t with sigmoid from w = exp(-|s|):
// 1/(1+w) for s >= 0, w/(1+w) below, so neither branch overflows. Mean over
// K B elements, like BCEWithLogitsLoss(reduction='mean').
struct BceWithLogits {
  static constexpr TargetKind kTargets = TargetKind::kBinary;
  static constexpr bool kUsesWork = true;
  template <typename S>
  static auto Work(const S& s) {
    return (-s.abs()).exp();
  }
  template <typename S, typename T, typename W>
  auto Terms(const S& s, const T& t, const W& w) const {
    return s.max(Scalar(0)) - s * t + w.log1p();
  }
  template <typename S, typename T, typename W>
  auto Gradient(const S& s, const T& t, const W& w, double n) const {
    const Scalar inv_n = static_cast<Scalar>(1.0 / n);
    return ((s >= Scalar(0)).select(Scalar(1), w) / (Scalar(1) + w) - t) * inv_n;
  }
};

// PyTorch HuberLoss(delta): per element d = y - t, 0.5 d^2 for |d| < delta,
// delta (|d| - delta/2) beyond. With c = clamp(d, -delta, delta) both pieces
// are |c| (|d| - |c|/2), and dl/dd = c, so there is no branch. Mean over K B.
struct Huber {
  static constexpr TargetKind kTargets = TargetKind::kRegression;
  static constexpr bool kUsesWork = false;
  Scalar delta;
  template <typename D>
  auto Clamp(const D& d) const {
    return d.max(-delta).min(delta);
  }
  template <typename S, typename T>
  auto Terms(const S& y, const T& t) const {
    const auto d = y - t;
    const auto c = Clamp(d);
    return c.abs() * (d.abs() - Scalar(0.5) * c.abs());
  }
  template <typename S, typename T>
  auto Gradient(const S& y, const T& t, double n) const {
    return Clamp(y - t) * static_cast<Scalar>(1.0 / n);
  }
};

// L = mean_b max(0, -y s) with labels y = +-1 and the raw score s.
//
// Subgradient: dL/ds = (sign(s) - y) / (2B), with sign(0) = 0. That is -y/B
// on a mistake (y s < 0), 0 on a correct side (y s > 0) and -y/(2B) at s = 0
// (a point of the subdifferential [-y, 0] hull; choosing 0 there would leave a
// zero-initialised perceptron stuck forever). For a linear unit s = w.x and
// one sample, an SGD step with rate lr is therefore
//     w <- w - lr (sign(s) - y)/2 x = w + (lr/2) (y - f(x)) x,  f(x) = sign(w.x),
// exactly the lecture's perceptron rule w += eta (y - f(x)) x with eta = lr/2
// (tested in loss_gradcheck_f64_test).
struct Perceptron {
  static constexpr TargetKind kTargets = TargetKind::kSign;
  static constexpr bool kUsesWork = false;
  template <typename S, typename T>
  auto Terms(const S& s, const T& y) const {
    return (-(y * s)).max(Scalar(0));
  }
  template <typename S, typename T>
  auto Gradient(const S& s, const T& y, double b) const {
    return (s.sign() - y) * static_cast<Scalar>(0.5 / b);
  }
};

// L = mean_b max(0, 1 - y s); dL/ds = -y/B where y s < 1, else 0 (0 at the
// kink y s = 1, like PyTorch's ReLU).
struct Hinge {
  static constexpr TargetKind kTargets = TargetKind::kSign;
  static constexpr bool kUsesWork = false;
  template <typename S, typename T>
  auto Terms(const S& s, const T& y) const {
    return (Scalar(1) - y * s).max(Scalar(0));
  }
  template <typename S, typename T>
  auto Gradient(const S& s, const T& y, double b) const {
    return (y * s < Scalar(1)).select(y * static_cast<Scalar>(-1.0 / b), Scalar(0));
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Loss>> Loss::Create(const v1::LossSpec& spec) {
  switch (spec.kind()) {
    case v1::MSE:
      return std::make_unique<MseLoss>();
    case v1::SOFTMAX_CROSS_ENTROPY:
      return std::make_unique<SoftmaxCrossEntropyLoss>();
    case v1::BCE_WITH_LOGITS:
      return std::make_unique<ElementwiseLoss<BceWithLogits>>();
    case v1::HUBER: {
      const float delta = spec.has_huber_delta() ? spec.huber_delta() : 1.0f;
      if (!(std::isfinite(delta) && delta > 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("loss.huber_delta must be > 0 and finite, got ", delta));
      }
      return std::make_unique<ElementwiseLoss<Huber>>(Huber{static_cast<Scalar>(delta)});
    }
    case v1::PERCEPTRON:
      return std::make_unique<ElementwiseLoss<Perceptron>>();
    case v1::HINGE:
      return std::make_unique<ElementwiseLoss<Hinge>>();
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "loss.kind must be set (one of MSE, SOFTMAX_CROSS_ENTROPY, BCE_WITH_LOGITS, "
      "HUBER, PERCEPTRON, HINGE), got ",
      static_cast<int>(spec.kind())));
}

int64_t Loss::CountCorrect(const Matrix& outputs, const Matrix& targets) const {
  const Eigen::Index b = outputs.cols();
  if (targets.cols() != b) return 0;
  switch (target_kind()) {
    case TargetKind::kClassIndex: {
      if (targets.rows() != 1) return 0;
      // First maximal index, like argmax; a per-column reduction because Eigen
      // has no vectorised column-wise argmax. Metrics only, not the hot path.
      int64_t correct = 0;
      for (Eigen::Index j = 0; j < b; ++j) {
        Eigen::Index arg = 0;
        outputs.col(j).maxCoeff(&arg);
        correct += static_cast<Scalar>(arg) == targets(0, j);
      }
      return correct;
    }
    case TargetKind::kBinary:
      // A sample counts when every one of its outputs is on the right side.
      if (!SameShape(outputs, targets)) return 0;
      return ((outputs.array() > Scalar(0)) == (targets.array() > Scalar(0.5)))
          .colwise()
          .all()
          .count();
    case TargetKind::kSign:
      // sign(s) == y for y = +-1, with s == 0 a mistake.
      if (!SingleRowPair(outputs, targets)) return 0;
      return (outputs.array() * targets.array() > Scalar(0)).count();
    case TargetKind::kRegression:
      break;
  }
  return 0;
}

}  // namespace trainyard
