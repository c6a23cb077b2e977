// Evaluation and prediction in evaluation mode: batch norm uses its running
// statistics and dropout is off (weight scaling), or, for Monte-Carlo dropout,
// kept on over N stochastic passes that give a mean and a standard deviation.
#ifndef TRAINYARD_CORE_EVALUATE_H_
#define TRAINYARD_CORE_EVALUATE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dataset.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/preprocess.h"
#include "trainyard/v1/checkpoint.pb.h"

namespace trainyard {

struct EvalMetrics {
  int64_t samples = 0;
  double loss = 0;       // mean loss, as in training
  double accuracy = -1;  // fraction correct; -1 when the loss has no accuracy
  double mse = 0;        // mean over samples and outputs of (output - target)^2
  double mae = 0;        // mean over samples and outputs of |output - target|
};

// Evaluates `model` on the samples `indices` of `data` (all when empty), in
// batches of `batch_size`, after applying `preprocessor` to each batch.
// REQUIRES: shapes already checked against the model.
EvalMetrics EvaluateModel(Model& model, const Loss& loss,
                          const Preprocessor& preprocessor, const Dataset& data,
                          absl::Span<const int64_t> indices, Parallel& parallel,
                          int batch_size = 1024);

struct Prediction {
  Matrix mean;    // (outputs, N): the output, or its Monte-Carlo mean
  Matrix stddev;  // (outputs, N) population std over passes; empty unless MC
};

// A trained model ready for inference, built from a checkpoint.
class Predictor {
 public:
  // Verifies the checkpoint (core/checkpoint.h) and builds the model.
  static absl::StatusOr<std::unique_ptr<Predictor>> Create(
      const v1::Checkpoint& checkpoint, int threads = 1);

  int input_dim() const { return model_->input_dim(); }
  int output_dim() const { return model_->output_dim(); }
  const Loss& loss() const { return *loss_; }
  TargetKind target_kind() const { return loss_->target_kind(); }

  // features: (input_dim, N) raw features (preprocessing is applied here).
  // mc_samples == 0: one pass in evaluation mode. mc_samples > 0: that many
  // passes with dropout on; each row's masks come from its own stream, forked
  // from `seed` by the row's values, and its passes run without the other
  // rows, so a row's mean and stddev depend only on the model, the seed, the
  // thread count and the row (not on the other rows of the request or its
  // position among them), bit for bit. INVALID_ARGUMENT on a shape
  // mismatch or non-finite input, naming the row.
  absl::StatusOr<Prediction> Predict(const Matrix& features, int mc_samples,
                                     uint64_t seed = 0);

  // Predict over chunks of rows (columns of `features`): `max_rows` rounded
  // down to a multiple of 32 (at least 32), the last chunk also taking the
  // remainder, so that the model's buffers never hold more than 2 * max_rows
  // rows (64 at least): a call's memory is bounded whatever its size. The
  // result is bit-identical to Predict's on the whole matrix, Monte-Carlo
  // included as long as each row's dropout draws do not depend on the rows
  // beside it. Chunking lives here, outside
  // Predict, so that Predict's per-row drawing stays its own business.
  // Errors are Predict's, naming rows by their index in `features`.
  absl::StatusOr<Prediction> PredictInChunks(const Matrix& features, int mc_samples,
                                             uint64_t seed, int64_t max_rows);

  // Evaluates on a whole dataset, `batch_size` rows at a time.
  // INVALID_ARGUMENT when its shape or labels do not fit the model.
  absl::StatusOr<EvalMetrics> Evaluate(const Dataset& data, int batch_size = 1024);

 private:
  Predictor() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Loss> loss_;
  v1::LossSpec loss_spec_;
  Preprocessor preprocessor_;
  std::unique_ptr<Parallel> parallel_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_EVALUATE_H_
