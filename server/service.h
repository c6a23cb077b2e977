// trainyard.v1.TrainingService over the callback API. Thin: each handler
// checks the bearer token, validates what only the transport can get wrong
// (required ids, shutdown), converts and delegates to Backend. Anything that
// touches the store, the disk or the CPU for long runs on an Executor, and
// the reactor is finished from there; gRPC's threads only dispatch.
// Predict and Evaluate run on the inference executor (bounded queue: a full
// one answers RESOURCE_EXHAUSTED), everything else on the control executor,
// so that no amount of inference delays GetJob, CancelJob or SubmitJob.
#ifndef TRAINYARD_SERVER_SERVICE_H_
#define TRAINYARD_SERVER_SERVICE_H_

#include <atomic>

#include "server/reactors.h"
#include "trainyard/v1/service.grpc.pb.h"

namespace trainyard::server {

class TrainingServiceImpl final : public v1::TrainingService::CallbackService {
 public:
  // `deps` pointers must outlive the service and the grpc::Server using it.
  explicit TrainingServiceImpl(ServiceDeps deps) : deps_(deps) {}

  grpc::ServerReadReactor<v1::UploadDatasetRequest>* UploadDataset(
      grpc::CallbackServerContext* context, v1::Dataset* response) override;
  grpc::ServerUnaryReactor* ListDatasets(grpc::CallbackServerContext* context,
                                         const v1::ListDatasetsRequest* request,
                                         v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* GetDataset(grpc::CallbackServerContext* context,
                                       const v1::GetDatasetRequest* request,
                                       v1::Dataset* response) override;
  grpc::ServerUnaryReactor* DeleteDataset(grpc::CallbackServerContext* context,
                                          const v1::DeleteDatasetRequest* request,
                                          v1::DeleteDatasetResponse* response) override;

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const v1::SubmitJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(
      grpc::CallbackServerContext* context, const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* PauseJob(grpc::CallbackServerContext* context,
                                     const v1::PauseJobRequest* request,
                                     v1::Job* response) override;
  grpc::ServerUnaryReactor* ResumeJob(grpc::CallbackServerContext* context,
                                      const v1::ResumeJobRequest* request,
                                      v1::Job* response) override;

  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* context,
                                            const v1::ListCheckpointsRequest* request,
                                            v1::ListCheckpointsResponse* response) override;
  grpc::ServerWriteReactor<v1::DownloadCheckpointResponse>* DownloadCheckpoint(
      grpc::CallbackServerContext* context,
      const v1::DownloadCheckpointRequest* request) override;
  grpc::ServerReadReactor<v1::UploadCheckpointRequest>* UploadCheckpoint(
      grpc::CallbackServerContext* context, v1::CheckpointInfo* response) override;

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerUnaryReactor* Evaluate(grpc::CallbackServerContext* context,
                                     const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) override;

  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const v1::GetServerInfoRequest* request,
                                          v1::ServerInfo* response) override;

  grpc::ServerUnaryReactor* DeleteCheckpoint(grpc::CallbackServerContext* context,
                                             const v1::DeleteCheckpointRequest* request,
                                             v1::DeleteCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context,
                                      const v1::DeleteJobRequest* request,
                                      v1::DeleteJobResponse* response) override;

 private:
  // Checks auth, then runs `work` (returning absl::StatusOr<Response> or
  // absl::Status) on the control executor and finishes the call with its
  // result.
  template <typename Response, typename Work>
  grpc::ServerUnaryReactor* Defer(grpc::CallbackServerContext* context, Response* response,
                                  Work work);
  // As Defer, on the inference executor: RESOURCE_EXHAUSTED when its queue is
  // full, and an allocation failure in `work` fails the call, not the server.
  template <typename Response, typename Work>
  grpc::ServerUnaryReactor* DeferInference(grpc::CallbackServerContext* context,
                                           Response* response, Work work);
  template <typename Response, typename Work>
  grpc::ServerUnaryReactor* DeferOn(Executor* executor, grpc::CallbackServerContext* context,
                                    Response* response, Work work);

  const ServiceDeps deps_;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_SERVICE_H_
