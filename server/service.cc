#include "server/service.h"

#include <new>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "server/status_util.h"

namespace trainyard::server {
namespace {

// A required id left empty: named here rather than looked up as "".
absl::Status RequireField(const std::string& value, const char* field) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(field) + " is required");
}

}  // namespace

template <typename Response, typename Work>
grpc::ServerUnaryReactor* TrainingServiceImpl::DeferOn(Executor* executor,
                                                       grpc::CallbackServerContext* context,
                                                       Response* response, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = deps_.auth->Check(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  absl::Status queued = executor->TrySubmit([reactor, response, work = std::move(work)]() mutable {
    auto result = work();
    if constexpr (std::is_same_v<decltype(result), absl::Status>) {
      std::ignore = response;  // a Status-only call fills no response message
      reactor->Finish(ToGrpcStatus(result));
    } else {
      if (result.ok()) *response = *std::move(result);
      reactor->Finish(ToGrpcStatus(result.status()));
    }
  });
  if (absl::IsUnavailable(queued)) queued = ShuttingDownError();
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

template <typename Response, typename Work>
grpc::ServerUnaryReactor* TrainingServiceImpl::Defer(grpc::CallbackServerContext* context,
                                                     Response* response, Work work) {
  return DeferOn(deps_.executor, context, response, std::move(work));
}

template <typename Response, typename Work>
grpc::ServerUnaryReactor* TrainingServiceImpl::DeferInference(
    grpc::CallbackServerContext* context, Response* response, Work work) {
  // Without a separate inference executor (a test's deps), the control one.
  Executor* executor = deps_.inference != nullptr ? deps_.inference : deps_.executor;
  return DeferOn(executor, context, response,
                 [this, work = std::move(work)]() mutable -> absl::StatusOr<Response> {
                   if (deps_.before_inference) deps_.before_inference();
                   try {
                     return work();
                   } catch (const std::bad_alloc&) {
                     // Backend::Predict/Evaluate already dropped a predictor
                     // the failure may have left inconsistent; this catches
                     // what is left (building the response, loading data).
                     return absl::ResourceExhaustedError(
                         "out of memory while running the model; try fewer rows per call");
                   }
                 });
}

// ---------------------------------------------------------------- datasets

grpc::ServerReadReactor<v1::UploadDatasetRequest>* TrainingServiceImpl::UploadDataset(
    grpc::CallbackServerContext* context, v1::Dataset* response) {
  if (absl::Status auth = deps_.auth->Check(*context); !auth.ok()) {
    return new FinishedReactor<grpc::ServerReadReactor<v1::UploadDatasetRequest>>(auth);
  }
  return NewUploadDatasetReactor(deps_, response);
}

grpc::ServerUnaryReactor* TrainingServiceImpl::ListDatasets(
    grpc::CallbackServerContext* context, const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return Defer(context, response, [this, request] { return deps_.backend->ListDatasets(*request); });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::GetDataset(grpc::CallbackServerContext* context,
                                                          const v1::GetDatasetRequest* request,
                                                          v1::Dataset* response) {
  return Defer(context, response, [this, request]() -> absl::StatusOr<v1::Dataset> {
    if (absl::Status s = RequireField(request->dataset_id(), "dataset_id"); !s.ok()) return s;
    return deps_.backend->GetDataset(request->dataset_id());
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::DeleteDataset(
    grpc::CallbackServerContext* context, const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return Defer(context, response, [this, request]() -> absl::Status {
    if (absl::Status s = RequireField(request->dataset_id(), "dataset_id"); !s.ok()) return s;
    return deps_.backend->DeleteDataset(request->dataset_id());
  });
}

// -------------------------------------------------------------------- jobs

grpc::ServerUnaryReactor* TrainingServiceImpl::SubmitJob(grpc::CallbackServerContext* context,
                                                         const v1::SubmitJobRequest* request,
                                                         v1::Job* response) {
  if (deps_.draining->load()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::Status auth = deps_.auth->Check(*context);
    reactor->Finish(ToGrpcStatus(auth.ok() ? ShuttingDownError() : auth));
    return reactor;
  }
  // Loads and checks the dataset and the model: executor work.
  return Defer(context, response, [this, request] { return deps_.backend->SubmitJob(*request); });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                      const v1::GetJobRequest* request,
                                                      v1::Job* response) {
  return Defer(context, response, [this, request]() -> absl::StatusOr<v1::Job> {
    if (absl::Status s = RequireField(request->job_id(), "job_id"); !s.ok()) return s;
    return deps_.backend->GetJob(request->job_id());
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                        const v1::ListJobsRequest* request,
                                                        v1::ListJobsResponse* response) {
  return Defer(context, response, [this, request] { return deps_.backend->ListJobs(*request); });
}

grpc::ServerWriteReactor<v1::JobEvent>* TrainingServiceImpl::WatchJob(
    grpc::CallbackServerContext* context, const v1::WatchJobRequest* request) {
  if (absl::Status auth = deps_.auth->Check(*context); !auth.ok()) {
    return new FinishedReactor<grpc::ServerWriteReactor<v1::JobEvent>>(auth);
  }
  return NewWatchJobReactor(deps_, *request);
}

grpc::ServerUnaryReactor* TrainingServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                         const v1::CancelJobRequest* request,
                                                         v1::Job* response) {
  return Defer(context, response, [this, request]() -> absl::StatusOr<v1::Job> {
    if (absl::Status s = RequireField(request->job_id(), "job_id"); !s.ok()) return s;
    return deps_.backend->CancelJob(request->job_id());
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::PauseJob(grpc::CallbackServerContext* context,
                                                        const v1::PauseJobRequest* request,
                                                        v1::Job* response) {
  return Defer(context, response, [this, request]() -> absl::StatusOr<v1::Job> {
    if (absl::Status s = RequireField(request->job_id(), "job_id"); !s.ok()) return s;
    return deps_.backend->PauseJob(request->job_id());
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::ResumeJob(grpc::CallbackServerContext* context,
                                                         const v1::ResumeJobRequest* request,
                                                         v1::Job* response) {
  return Defer(context, response, [this, request]() -> absl::StatusOr<v1::Job> {
    if (absl::Status s = RequireField(request->job_id(), "job_id"); !s.ok()) return s;
    return deps_.backend->ResumeJob(request->job_id());
  });
}

// ------------------------------------------------------------- deletion

grpc::ServerUnaryReactor* TrainingServiceImpl::DeleteCheckpoint(
    grpc::CallbackServerContext* context, const v1::DeleteCheckpointRequest* request,
    v1::DeleteCheckpointResponse* response) {
  return Defer(context, response, [this, request]() -> absl::Status {
    if (absl::Status s = RequireField(request->checkpoint_id(), "checkpoint_id"); !s.ok()) {
      return s;
    }
    return deps_.backend->DeleteCheckpoint(request->checkpoint_id());
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::DeleteJob(grpc::CallbackServerContext* context,
                                                         const v1::DeleteJobRequest* request,
                                                         v1::DeleteJobResponse* response) {
  return Defer(context, response, [this, request]() -> absl::StatusOr<v1::DeleteJobResponse> {
    if (absl::Status s = RequireField(request->job_id(), "job_id"); !s.ok()) return s;
    return deps_.backend->DeleteJob(request->job_id());
  });
}

// ------------------------------------------------------------- checkpoints

grpc::ServerUnaryReactor* TrainingServiceImpl::ListCheckpoints(
    grpc::CallbackServerContext* context, const v1::ListCheckpointsRequest* request,
    v1::ListCheckpointsResponse* response) {
  return Defer(context, response,
               [this, request] { return deps_.backend->ListCheckpoints(request->job_id()); });
}

grpc::ServerWriteReactor<v1::DownloadCheckpointResponse>* TrainingServiceImpl::DownloadCheckpoint(
    grpc::CallbackServerContext* context, const v1::DownloadCheckpointRequest* request) {
  if (absl::Status auth = deps_.auth->Check(*context); !auth.ok()) {
    return new FinishedReactor<grpc::ServerWriteReactor<v1::DownloadCheckpointResponse>>(auth);
  }
  return NewDownloadCheckpointReactor(deps_, *request);
}

grpc::ServerReadReactor<v1::UploadCheckpointRequest>* TrainingServiceImpl::UploadCheckpoint(
    grpc::CallbackServerContext* context, v1::CheckpointInfo* response) {
  if (absl::Status auth = deps_.auth->Check(*context); !auth.ok()) {
    return new FinishedReactor<grpc::ServerReadReactor<v1::UploadCheckpointRequest>>(auth);
  }
  return NewUploadCheckpointReactor(deps_, response);
}

// --------------------------------------------------------------- inference

grpc::ServerUnaryReactor* TrainingServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                       const v1::PredictRequest* request,
                                                       v1::PredictResponse* response) {
  return DeferInference(context, response,
                        [this, request]() -> absl::StatusOr<v1::PredictResponse> {
    if (absl::Status s = RequireField(request->checkpoint_id(), "checkpoint_id"); !s.ok()) {
      return s;
    }
    return deps_.backend->Predict(*request);
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::Evaluate(grpc::CallbackServerContext* context,
                                                        const v1::EvaluateRequest* request,
                                                        v1::EvaluateResponse* response) {
  return DeferInference(context, response,
                        [this, request]() -> absl::StatusOr<v1::EvaluateResponse> {
    if (absl::Status s = RequireField(request->checkpoint_id(), "checkpoint_id"); !s.ok()) {
      return s;
    }
    if (absl::Status s = RequireField(request->dataset_id(), "dataset_id"); !s.ok()) return s;
    return deps_.backend->Evaluate(*request);
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::GetServerInfo(
    grpc::CallbackServerContext* context, const v1::GetServerInfoRequest*,
    v1::ServerInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status auth = deps_.auth->Check(*context);
  if (auth.ok()) *response = deps_.backend->GetServerInfo();  // no I/O: answered inline
  reactor->Finish(ToGrpcStatus(auth));
  return reactor;
}

}  // namespace trainyard::server
