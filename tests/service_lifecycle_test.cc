// DeleteJob and DeleteCheckpoint through the real transport: the codes a
// client sees for a missing field, a malformed id, an unfinished job, a
// checkpoint still needed, and a repeated call; and a job with checkpoint
// retention as ListCheckpoints shows it.
#include <string>
#include <vector>

#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

using ServiceLifecycleTest = ServiceFixture;
using grpc::StatusCode;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_F(ServiceLifecycleTest, DeleteJobAndCheckpointCodes) {
  Start();
  v1::Dataset ds = UploadOk();
  v1::DeleteJobRequest del_job;
  v1::DeleteJobResponse job_resp;
  v1::DeleteCheckpointRequest del_ckpt;
  v1::DeleteCheckpointResponse ckpt_resp;
  grpc::Status s = stub_->DeleteJob(Ctx().get(), del_job, &job_resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "job_id")) << s.error_message();
  s = stub_->DeleteCheckpoint(Ctx().get(), del_ckpt, &ckpt_resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "checkpoint_id")) << s.error_message();
  del_ckpt.set_checkpoint_id("xyz");
  s = stub_->DeleteCheckpoint(Ctx().get(), del_ckpt, &ckpt_resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);

  // Three epochs, a checkpoint each: retention keep_last 1 leaves the last.
  v1::SubmitJobRequest req = TinyJob(ds.id(), 3);
  req.mutable_training()->mutable_retention()->set_keep_last(1);
  v1::Job job = SubmitOk(req);
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(job.id(), 0, &events).ok());
  int saved = 0;
  for (const v1::JobEvent& e : events) saved += e.has_checkpoint_saved();
  EXPECT_GE(saved, 3);
  v1::ListCheckpointsRequest list_req;
  list_req.set_job_id(job.id());
  v1::ListCheckpointsResponse list;
  ASSERT_TRUE(stub_->ListCheckpoints(Ctx().get(), list_req, &list).ok());
  ASSERT_EQ(list.checkpoints_size(), 1);
  const std::string kept = list.checkpoints(0).id();

  // A queued fine-tune of it: the checkpoint is needed, the job unfinished.
  v1::SubmitJobRequest tune = TinyJob(ds.id(), 1000);
  tune.set_init_from_checkpoint_id(kept);
  v1::Job tuner = SubmitOk(tune);
  del_ckpt.set_checkpoint_id(kept);
  s = stub_->DeleteCheckpoint(Ctx().get(), del_ckpt, &ckpt_resp);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Contains(s.error_message(), tuner.id())) << s.error_message();
  del_job.set_job_id(tuner.id());
  s = stub_->DeleteJob(Ctx().get(), del_job, &job_resp);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Contains(s.error_message(), "only SUCCEEDED, FAILED or CANCELLED")) << s.error_message();

  v1::CancelJobRequest cancel;
  cancel.set_job_id(tuner.id());
  v1::Job cancelled;
  ASSERT_TRUE(stub_->CancelJob(Ctx().get(), cancel, &cancelled).ok());
  ASSERT_TRUE(Watch(tuner.id(), 0, &events).ok());  // to its terminal event
  ASSERT_TRUE(stub_->DeleteCheckpoint(Ctx().get(), del_ckpt, &ckpt_resp).ok());
  s = stub_->DeleteCheckpoint(Ctx().get(), del_ckpt, &ckpt_resp);
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND);

  del_job.set_job_id(job.id());
  ASSERT_TRUE(stub_->DeleteJob(Ctx().get(), del_job, &job_resp).ok());
  EXPECT_EQ(job_resp.deleted_checkpoint_ids_size(), 0);  // its one was deleted above
  s = stub_->DeleteJob(Ctx().get(), del_job, &job_resp);
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND);
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  v1::Job gone;
  EXPECT_EQ(stub_->GetJob(Ctx().get(), get, &gone).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Watch(job.id(), 0, &events).error_code(), StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace trainyard::testing
