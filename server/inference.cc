// Backend: checkpoint listing and import, and inference (Predict, Evaluate)
// on any stored checkpoint through the predictor cache
// (server/predictor_cache.h).
#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/leak_on_purpose.h"
#include "core/memory_estimate.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/ids.h"

namespace trainyard::server {
namespace {

absl::Status CheckCheckpointId(std::string_view id) {
  if (IsSha256Hex(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "checkpoint_id must be a checkpoint id (64 lower-case hex characters)");
}

// Rows one inference pass is asked to hold (as EvaluateModel's batches);
// fewer when that many would not fit the --max-job-memory budget. A Predict
// chunk may hold up to twice as many (Predictor::PredictInChunks), hence the
// budget is halved for it.
constexpr int64_t kMaxChunkRows = 1024;

// Rows per chunk for `model` under `budget`; RESOURCE_EXHAUSTED naming the
// layer when not even one row fits.
absl::StatusOr<int64_t> ChunkRows(const v1::ModelSpec& model, bool mc, int64_t budget,
                                  const char* what) {
  const MemoryEstimate one = EstimateInferenceMemory(model, 1, mc);
  const int64_t per_row = std::max<int64_t>(1, one.activation_bytes + one.workspace_bytes);
  const int64_t fit = (budget - one.parameter_bytes) / per_row / 2;
  if (fit < 1) {
    return CheckMemoryBudget(one, budget, what, "one row", "--max-job-memory");
  }
  return std::min(kMaxChunkRows, fit);
}

// An allocation failed inside `entry`'s predictor. Eigen's resize frees a
// matrix's old buffer before allocating the new one and keeps the dangling
// pointer when that throws, so destroying the predictor would free it twice:
// it is leaked on purpose, and the entry evicted so the next call builds a
// fresh one. REQUIRES: entry->mu held.
absl::Status DropPoisonedPredictor(PredictorCache& cache, std::string_view id,
                                   PredictorEntry& entry)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu) {
  LeakOnPurpose(entry.predictor.release());  // see above: freeing it could double-free
  cache.Evict(id, &entry);
  return absl::ResourceExhaustedError(
      "out of memory while running the model; try fewer rows per call");
}

void AddRow(const Matrix& m, Eigen::Index col, v1::Row* row) {
  for (Eigen::Index r = 0; r < m.rows(); ++r) row->add_values(static_cast<float>(m(r, col)));
}

}  // namespace

absl::StatusOr<v1::ListCheckpointsResponse> Backend::ListCheckpoints(std::string_view job_id) {
  if (!job_id.empty()) {
    if (!IsJobId(job_id)) return absl::InvalidArgumentError("job_id must be a job id (job-...)");
    if (absl::StatusOr<v1::Job> job = impl_->store->GetJob(job_id); !job.ok()) {
      return job.status();
    }
  }
  absl::StatusOr<std::vector<v1::CheckpointInfo>> list = impl_->store->ListCheckpoints(job_id);
  if (!list.ok()) return list.status();
  v1::ListCheckpointsResponse response;
  for (v1::CheckpointInfo& info : *list) *response.add_checkpoints() = std::move(info);
  return response;
}

absl::StatusOr<v1::CheckpointInfo> Backend::GetCheckpoint(std::string_view id) {
  if (absl::Status s = CheckCheckpointId(id); !s.ok()) return s;
  return impl_->store->GetCheckpoint(id);
}

absl::StatusOr<v1::CheckpointInfo> Backend::ImportCheckpoint(const std::string& sha256) {
  return impl_->checkpoints->Import(sha256);
}

absl::StatusOr<v1::PredictResponse> Backend::Predict(const v1::PredictRequest& request) {
  if (absl::Status s = CheckCheckpointId(request.checkpoint_id()); !s.ok()) return s;
  if (request.rows_size() > 0 && request.flat_size() > 0) {
    return absl::InvalidArgumentError("rows and flat are exclusive: send one of them");
  }
  if (request.rows_size() == 0 && request.flat_size() == 0) {
    return absl::InvalidArgumentError("rows (or flat with num_rows) is required");
  }
  if (request.mc_samples() < 0 || request.mc_samples() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("mc_samples must be in [0, 1000], got ", request.mc_samples()));
  }
  // Rows x passes: the work of the call, capped so that one call cannot
  // hold an inference thread for minutes.
  const int64_t rows = request.rows_size() > 0 ? request.rows_size() : request.num_rows();
  const int64_t work = rows * std::max(1, request.mc_samples());
  if (work > impl_->options.max_predict_work) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "rows x mc_samples is ", rows, " x ", std::max(1, request.mc_samples()), " = ", work,
        ", more than the server's --max-predict-work ", impl_->options.max_predict_work,
        ": split the rows over several calls or use fewer mc_samples"));
  }
  absl::StatusOr<std::shared_ptr<PredictorEntry>> entry =
      impl_->predictors->Get(request.checkpoint_id());
  if (!entry.ok()) return entry.status();
  absl::StatusOr<int64_t> chunk = ChunkRows((*entry)->model, request.mc_samples() > 0,
                                            impl_->options.max_job_memory, "this Predict needs");
  if (!chunk.ok()) return chunk.status();
  absl::MutexLock lock(&(*entry)->mu);
  if ((*entry)->predictor == nullptr) {
    return absl::UnavailableError("the model was reloaded after running out of memory; retry");
  }
  Predictor& predictor = *(*entry)->predictor;
  const int width = predictor.input_dim();

  Matrix features;
  if (request.rows_size() > 0) {
    features.resize(width, request.rows_size());
    for (int i = 0; i < request.rows_size(); ++i) {
      const v1::Row& row = request.rows(i);
      if (row.values_size() != width) {
        return absl::InvalidArgumentError(absl::StrCat("rows[", i, "] has ", row.values_size(),
                                                       " values, the model needs ", width));
      }
      for (int f = 0; f < width; ++f) features(f, i) = row.values(f);
    }
  } else {
    if (request.num_rows() <= 0) {
      return absl::InvalidArgumentError("num_rows must be > 0 when flat is used");
    }
    if (static_cast<int64_t>(request.flat_size()) != int64_t{request.num_rows()} * width) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flat has ", request.flat_size(), " values; num_rows ", request.num_rows(),
          " rows of the model's ", width, " features need ",
          int64_t{request.num_rows()} * width));
    }
    features.resize(width, request.num_rows());
    for (int i = 0; i < request.num_rows(); ++i) {
      for (int f = 0; f < width; ++f) features(f, i) = request.flat(i * width + f);
    }
  }

  absl::StatusOr<Prediction> prediction;
  try {
    prediction = predictor.PredictInChunks(features, request.mc_samples(), request.seed(), *chunk);
  } catch (const std::bad_alloc&) {
    return DropPoisonedPredictor(*impl_->predictors, request.checkpoint_id(), **entry);
  }
  if (!prediction.ok()) return prediction.status();
  const Matrix& out = prediction->mean;
  v1::PredictResponse response;
  for (Eigen::Index j = 0; j < out.cols(); ++j) {
    AddRow(out, j, response.add_outputs());
    if (request.mc_samples() > 0) AddRow(prediction->stddev, j, response.add_stddev());
    switch (predictor.target_kind()) {
      case TargetKind::kClassIndex: {
        Eigen::Index arg = 0;
        out.col(j).maxCoeff(&arg);
        response.add_predicted_class(static_cast<int32_t>(arg));
        break;
      }
      case TargetKind::kBinary:
        if (out.rows() == 1) {
          response.add_predicted_class(out(0, j) > 0 ? 1 : 0);
        } else {
          Eigen::Index arg = 0;
          out.col(j).maxCoeff(&arg);
          response.add_predicted_class(static_cast<int32_t>(arg));
        }
        break;
      case TargetKind::kSign:
        response.add_predicted_class(out(0, j) > 0 ? 1 : -1);
        break;
      case TargetKind::kRegression:
        break;
    }
    if ((*entry)->loss_kind == v1::SOFTMAX_CROSS_ENTROPY) {
      // Stable softmax of the logits, in double.
      const double max = static_cast<double>(out.col(j).maxCoeff());
      std::vector<double> e(out.rows());
      double sum = 0;
      for (Eigen::Index r = 0; r < out.rows(); ++r) {
        e[r] = std::exp(static_cast<double>(out(r, j)) - max);
        sum += e[r];
      }
      v1::Row* p = response.add_probabilities();
      for (double v : e) p->add_values(static_cast<float>(v / sum));
    }
  }
  return response;
}

absl::StatusOr<v1::EvaluateResponse> Backend::Evaluate(const v1::EvaluateRequest& request) {
  if (absl::Status s = CheckCheckpointId(request.checkpoint_id()); !s.ok()) return s;
  if (!IsDatasetId(request.dataset_id())) {
    return absl::InvalidArgumentError("dataset_id must be a dataset id (ds-...)");
  }
  absl::StatusOr<v1::Dataset> row = impl_->store->GetDataset(request.dataset_id());
  if (!row.ok()) {
    if (absl::IsNotFound(row.status())) {
      return absl::NotFoundError(
          absl::StrCat("dataset_id: dataset ", request.dataset_id(), " not found"));
    }
    return row.status();
  }
  absl::StatusOr<std::shared_ptr<PredictorEntry>> entry =
      impl_->predictors->Get(request.checkpoint_id());
  if (!entry.ok()) return entry.status();
  absl::StatusOr<int64_t> chunk = ChunkRows((*entry)->model, /*mc=*/false,
                                            impl_->options.max_job_memory, "this Evaluate needs");
  if (!chunk.ok()) return chunk.status();
  absl::StatusOr<std::shared_ptr<const Dataset>> data = impl_->LoadDataset(*row);
  if (!data.ok()) return data.status();
  absl::MutexLock lock(&(*entry)->mu);
  if ((*entry)->predictor == nullptr) {
    return absl::UnavailableError("the model was reloaded after running out of memory; retry");
  }
  Predictor& predictor = *(*entry)->predictor;
  absl::StatusOr<EvalMetrics> m;
  try {
    m = predictor.Evaluate(**data, static_cast<int>(*chunk));
  } catch (const std::bad_alloc&) {
    return DropPoisonedPredictor(*impl_->predictors, request.checkpoint_id(), **entry);
  }
  if (!m.ok()) return m.status();
  const bool regression = predictor.target_kind() == TargetKind::kRegression;
  v1::EvaluateResponse response;
  response.set_loss(m->loss);
  response.set_accuracy(regression ? -1 : m->accuracy);
  response.set_mse(regression ? m->mse : -1);
  response.set_mae(regression ? m->mae : -1);
  response.set_num_samples(m->samples);
  return response;
}

}  // namespace trainyard::server
