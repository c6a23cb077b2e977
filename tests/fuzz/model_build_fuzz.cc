// A model built from a decoded spec, as SubmitJob and Predict build one: the
// JSON spec is parsed (ParseModelSpecJson), analysed with a server's limits
// (AnalyzeModel), and when it is valid the layers are built, initialised
// and run once, forward and backward in training mode, forward in evaluation
// and Monte-Carlo mode, on a tiny batch. The whole input is the JSON text
// (model_build.dict: the spec's field and enum names).
//
// Memory is respected as the server respects it (issue 9 class 13): a spec
// whose estimated training memory (core/memory_estimate.h) passes a small
// cap is refused before anything is allocated, so the fuzzer finds crashes,
// not legitimate out-of-memory.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/layer.h"
#include "core/memory_estimate.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/spec_json.h"
#include "core/tensor.h"
#include "core/validate.h"

namespace {
constexpr int64_t kBatch = 3;
constexpr int64_t kMemoryCap = int64_t{16} << 20;  // bytes per model and step
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainyard;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<v1::ModelSpec> spec = ParseModelSpecJson(json);
  if (!spec.ok()) return 0;
  ModelLimits limits;
  limits.max_params = 1 << 18;
  limits.max_layers = 128;
  limits.max_width = 1 << 14;
  absl::StatusOr<ModelShape> shape = AnalyzeModel(*spec, limits);
  if (!shape.ok()) return 0;
  if (!CheckMemoryBudget(EstimateTrainingMemory(*spec, kBatch), kMemoryCap, "the model needs",
                         "batch", "the fuzzer's cap")
           .ok()) {
    return 0;
  }
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(*spec, *shape);
  if (!model.ok()) return 0;
  if ((*model)->num_params() != shape->num_params ||
      (*model)->num_state() != shape->num_state) {
    __builtin_trap();  // the analysis and the built model disagree
  }
  Rng rng(1);
  (*model)->Initialize(rng);

  static Parallel* const parallel = new Parallel(1);  // one for the whole run
  Matrix x(shape->input.size(), kBatch);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<Scalar>(i % 7) - 3;

  const PassContext train{Mode::kTrain, &rng, parallel};
  const Matrix& out = (*model)->Forward(x, train);
  if (out.rows() != shape->output_dim() || out.cols() != kBatch) __builtin_trap();
  const Matrix dout = Matrix::Constant(out.rows(), out.cols(), Scalar(0.1));
  (*model)->Backward(dout, train);
  for (Mode mode : {Mode::kEval, Mode::kMonteCarlo}) {
    const Matrix& y = (*model)->Forward(x, PassContext{mode, &rng, parallel});
    if (y.rows() != shape->output_dim() || y.cols() != kBatch) __builtin_trap();
  }
  return 0;
}
