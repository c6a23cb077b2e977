// The gRPC service end to end, in process: the real Server on 127.0.0.1:0
// driven through the generated stub. Workflow, watching, downloads, inference.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

using ServiceTest = ServiceFixture;

// Every seq from first to first+n-1 exactly once, in order.
void ExpectContiguous(const std::vector<v1::JobEvent>& events, int64_t first) {
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].seq(), first + static_cast<int64_t>(i)) << "at index " << i;
  }
}

std::string DownloadAll(v1::TrainingService::Stub* stub, const std::string& id, int64_t offset,
                        grpc::Status* status, std::vector<v1::DownloadCheckpointResponse>* parts) {
  grpc::ClientContext ctx;
  v1::DownloadCheckpointRequest req;
  req.set_checkpoint_id(id);
  req.set_offset(offset);
  auto reader = stub->DownloadCheckpoint(&ctx, req);
  v1::DownloadCheckpointResponse part;
  std::string data;
  while (reader->Read(&part)) {
    EXPECT_EQ(part.offset(), offset + static_cast<int64_t>(data.size()));
    data += part.data();
    if (parts) parts->push_back(part);
  }
  *status = reader->Finish();
  return data;
}

TEST_F(ServiceTest, FullWorkflowUploadTrainWatchDownloadPredictEvaluate) {
  Start();
  const std::string csv = TwoClassCsv();
  v1::Dataset ds;
  ASSERT_TRUE(Upload(CsvHeader("two-class"), csv, &ds, /*chunk=*/97).ok());
  EXPECT_EQ(ds.num_samples(), 60);
  EXPECT_EQ(ds.num_features(), 2);
  EXPECT_EQ(ds.sha256(), Sha256Hex(csv));
  EXPECT_EQ(ds.size_bytes(), static_cast<int64_t>(csv.size()));

  v1::Job job = SubmitOk(TinyJob(ds.id(), /*epochs=*/5));
  ASSERT_FALSE(job.id().empty());

  std::vector<v1::JobEvent> events;
  grpc::Status s = Watch(job.id(), 0, &events);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ExpectContiguous(events, 1);
  int epochs = 0, checkpoints = 0, steps = 0;
  std::vector<v1::JobState> states;
  for (const auto& e : events) {
    EXPECT_EQ(e.job_id(), job.id());
    if (e.has_epoch_metrics()) ++epochs;
    if (e.has_checkpoint_saved()) ++checkpoints;
    if (e.has_step_metrics()) steps += e.step_metrics().points_size();
    if (e.has_state_change()) states.push_back(e.state_change().to());
  }
  EXPECT_EQ(epochs, 5);
  EXPECT_GE(checkpoints, 1);
  EXPECT_GT(steps, 0);
  ASSERT_FALSE(states.empty());
  EXPECT_NE(std::find(states.begin(), states.end(), v1::RUNNING), states.end());
  EXPECT_EQ(states.back(), v1::SUCCEEDED);
  ASSERT_TRUE(events.back().has_state_change());  // the stream ends after the terminal event

  v1::GetJobRequest get;
  get.set_job_id(job.id());
  v1::Job done;
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &done).ok());
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  ASSERT_FALSE(done.latest_checkpoint_id().empty());

  v1::ListCheckpointsRequest list;
  list.set_job_id(job.id());
  v1::ListCheckpointsResponse ckpts;
  ASSERT_TRUE(stub_->ListCheckpoints(Ctx().get(), list, &ckpts).ok());
  ASSERT_GE(ckpts.checkpoints_size(), 1);
  const std::string ckpt = done.latest_checkpoint_id();

  // Whole file, then the second half from an offset, then past the end.
  std::vector<v1::DownloadCheckpointResponse> parts;
  std::string file = DownloadAll(stub_.get(), ckpt, 0, &s, &parts);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(parts.empty());
  EXPECT_EQ(parts[0].total_size(), static_cast<int64_t>(file.size()));
  EXPECT_EQ(parts[0].sha256(), ckpt);
  EXPECT_EQ(Sha256Hex(file), ckpt);
  const int64_t half = file.size() / 2;
  std::string tail = DownloadAll(stub_.get(), ckpt, half, &s, nullptr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(tail, file.substr(half));
  std::string none = DownloadAll(stub_.get(), ckpt, file.size(), &s, nullptr);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(none.empty());
  DownloadAll(stub_.get(), ckpt, file.size() + 1, &s, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);

  v1::PredictRequest predict;
  predict.set_checkpoint_id(ckpt);
  for (float v : {-1.2f, 1.1f}) {
    auto* row = predict.add_rows();
    row->add_values(v);
    row->add_values(v);
  }
  v1::PredictResponse out;
  s = stub_->Predict(Ctx().get(), predict, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(out.outputs_size(), 2);
  EXPECT_EQ(out.outputs(0).values_size(), 2);
  ASSERT_EQ(out.predicted_class_size(), 2);
  EXPECT_EQ(out.predicted_class(0), 0);
  EXPECT_EQ(out.predicted_class(1), 1);
  EXPECT_EQ(out.stddev_size(), 0);
  predict.set_mc_samples(20);
  ASSERT_TRUE(stub_->Predict(Ctx().get(), predict, &out).ok());
  ASSERT_EQ(out.stddev_size(), 2);
  EXPECT_EQ(out.stddev(0).values_size(), 2);

  v1::EvaluateRequest eval;
  eval.set_checkpoint_id(ckpt);
  eval.set_dataset_id(ds.id());
  v1::EvaluateResponse metrics;
  s = stub_->Evaluate(Ctx().get(), eval, &metrics);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(metrics.num_samples(), 60);
  EXPECT_GT(metrics.accuracy(), 0.9);

  // The downloaded file uploads again as a checkpoint with the same id.
  grpc::ClientContext up_ctx;
  v1::CheckpointInfo info;
  auto writer = stub_->UploadCheckpoint(&up_ctx, &info);
  v1::UploadCheckpointRequest up;
  up.mutable_header()->set_total_size_bytes(file.size());
  writer->Write(up);
  up.set_chunk(file);
  writer->Write(up);
  up.mutable_trailer()->set_sha256(ckpt);
  writer->Write(up);
  writer->WritesDone();
  s = writer->Finish();
  // Already recorded as the job's checkpoint: either accepted as the same id
  // or refused as existing; never a different id.
  if (s.ok()) {
    EXPECT_EQ(info.id(), ckpt);
  } else {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  }
}

TEST_F(ServiceTest, WatcherReconnectsWithAfterSeqWithoutGapOrDuplicate) {
  Start();
  v1::Dataset ds = UploadOk();
  v1::Job job = SubmitOk(TinyJob(ds.id(), 8));
  std::vector<v1::JobEvent> first;
  grpc::Status s = Watch(job.id(), 0, &first, /*max_events=*/4);
  ASSERT_EQ(first.size(), 4u);
  ExpectContiguous(first, 1);
  std::vector<v1::JobEvent> rest;
  s = Watch(job.id(), first.back().seq(), &rest);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(rest.empty());
  ExpectContiguous(rest, 5);
  // And the whole log read again matches seq for seq.
  std::vector<v1::JobEvent> all;
  ASSERT_TRUE(Watch(job.id(), 0, &all).ok());
  ASSERT_EQ(all.size(), first.size() + rest.size());
  EXPECT_EQ(all.back().SerializeAsString(), rest.back().SerializeAsString());
}

// A job that asks for diagnostics streams them through WatchJob (every
// every_steps steps, each layer by its path), a watcher resuming after a seq
// gets the same events again, and a job that does not ask gets none.
TEST_F(ServiceTest, WatchJobDeliversDiagnosticsAndReplaysThemAfterSeq) {
  Start();
  v1::Dataset ds = UploadOk();
  v1::SubmitJobRequest req = TinyJob(ds.id(), 3);  // 6 steps per epoch
  req.mutable_training()->mutable_diagnostics()->set_every_steps(2);
  req.mutable_training()->mutable_diagnostics()->set_histograms(true);
  v1::Job job = SubmitOk(req);
  v1::Job plain = SubmitOk(TinyJob(ds.id(), 3));

  std::vector<v1::JobEvent> all;
  ASSERT_TRUE(Watch(job.id(), 0, &all).ok());
  ASSERT_TRUE(all.back().has_state_change());
  ASSERT_EQ(all.back().state_change().to(), v1::SUCCEEDED);
  std::vector<int64_t> steps;
  int64_t first_seq = 0;
  for (const v1::JobEvent& e : all) {
    if (!e.has_diagnostics()) continue;
    if (first_seq == 0) first_seq = e.seq();
    for (const v1::DiagnosticsSnapshot& snap : e.diagnostics().snapshots()) {
      steps.push_back(snap.step());
      ASSERT_EQ(snap.layers_size(), 4);
      EXPECT_EQ(snap.layers(0).path(), "layers[0].dense");
      EXPECT_GT(snap.layers(0).parameters().grad_norm(), 0);
      EXPECT_EQ(snap.layers(1).path(), "layers[1].activation");
      EXPECT_EQ(snap.layers(1).activation().histogram().counts_size(), 20);
      EXPECT_EQ(snap.layers(2).path(), "layers[2].dropout");
      EXPECT_GT(snap.layers(2).activation().zero_fraction(), 0);  // rate 0.2
      EXPECT_EQ(snap.layers(3).path(), "layers[3].dense");
    }
  }
  EXPECT_THAT(steps, ::testing::ElementsAre(2, 4, 6, 8, 10, 12, 14, 16, 18));

  std::vector<v1::JobEvent> replay;
  ASSERT_TRUE(Watch(job.id(), first_seq - 1, &replay).ok());
  ASSERT_EQ(replay.size(), all.size() - static_cast<size_t>(first_seq - 1));
  for (size_t i = 0; i < replay.size(); ++i) {
    EXPECT_EQ(replay[i].SerializeAsString(), all[first_seq - 1 + i].SerializeAsString());
  }

  std::vector<v1::JobEvent> undiagnosed;
  ASSERT_TRUE(Watch(plain.id(), 0, &undiagnosed).ok());
  ASSERT_EQ(undiagnosed.back().state_change().to(), v1::SUCCEEDED);
  for (const v1::JobEvent& e : undiagnosed) EXPECT_FALSE(e.has_diagnostics()) << e.seq();
}

TEST_F(ServiceTest, DisconnectedWatcherDoesNotAffectTheJob) {
  Start();
  v1::Dataset ds = UploadOk();
  v1::Job job = SubmitOk(TinyJob(ds.id(), 6));
  for (int i = 0; i < 3; ++i) {  // several watchers leave mid-stream
    std::vector<v1::JobEvent> some;
    Watch(job.id(), 0, &some, /*max_events=*/2 + i);
  }
  std::vector<v1::JobEvent> all;
  ASSERT_TRUE(Watch(job.id(), 0, &all).ok());
  ASSERT_TRUE(all.back().has_state_change());
  EXPECT_EQ(all.back().state_change().to(), v1::SUCCEEDED);
}

TEST_F(ServiceTest, IdleWatcherGetsHeartbeatsAndWatcherLimitApplies) {
  Start([](server::ServerOptions& o) { o.max_watchers_per_job = 1; });
  v1::Dataset ds = UploadOk();
  v1::Job job = SubmitOk(TinyJob(ds.id(), 1000));
  v1::Job paused;
  ASSERT_NO_FATAL_FAILURE(PauseAndWait(job.id(), &paused));

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1500));
  v1::WatchJobRequest req;
  req.set_job_id(job.id());
  auto reader = stub_->WatchJob(&ctx, req);
  v1::JobEvent ev;
  int64_t last_seq = 0;
  int heartbeats = 0;
  bool second_checked = false;
  while (reader->Read(&ev)) {
    if (!ev.has_heartbeat()) {
      last_seq = ev.seq();
      continue;
    }
    ++heartbeats;
    EXPECT_EQ(ev.seq(), last_seq);  // a heartbeat repeats the last seq sent
    EXPECT_EQ(ev.job_id(), job.id());
    if (!second_checked) {
      second_checked = true;
      std::vector<v1::JobEvent> none;
      grpc::Status s = Watch(job.id(), 0, &none);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    }
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(heartbeats, 3);  // 0.2 s interval over ~1.5 s idle
  EXPECT_EQ(last_seq, paused.last_event_seq());

  // The slot is free again once the first watcher is gone (OnDone may trail
  // the client's view by a moment).
  grpc::StatusCode code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  for (int i = 0; i < 50 && code == grpc::StatusCode::RESOURCE_EXHAUSTED; ++i) {
    grpc::ClientContext again;
    again.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    auto r = stub_->WatchJob(&again, req);
    while (r->Read(&ev)) {
    }
    code = r->Finish().error_code();
  }
  EXPECT_EQ(code, grpc::StatusCode::DEADLINE_EXCEEDED);
}

// no_follow: a snapshot read. A paused job has no next event; the stream
// must end OK after the stored ones instead of idling on heartbeats.
TEST_F(ServiceTest, NoFollowWatchEndsAfterTheStoredEvents) {
  Start();
  v1::Dataset ds = UploadOk();
  v1::Job job = SubmitOk(TinyJob(ds.id(), 1000));
  v1::Job paused;
  ASSERT_NO_FATAL_FAILURE(PauseAndWait(job.id(), &paused));

  for (const int64_t after_seq : {int64_t{0}, paused.last_event_seq()}) {
    grpc::ClientContext ctx;
    // Far longer than the test needs: a stream that waits fails on it.
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::WatchJobRequest req;
    req.set_job_id(job.id());
    req.set_after_seq(after_seq);
    req.set_no_follow(true);
    const auto started = std::chrono::steady_clock::now();
    auto reader = stub_->WatchJob(&ctx, req);
    v1::JobEvent ev;
    int64_t expected_seq = after_seq;
    while (reader->Read(&ev)) {
      ASSERT_FALSE(ev.has_heartbeat());
      EXPECT_EQ(ev.seq(), ++expected_seq);
    }
    const grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(expected_seq, paused.last_event_seq()) << "after_seq " << after_seq;
    // The fixture's heartbeat interval is 0.2 s; no heartbeat was sent, and
    // the call did not wait for the deadline.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  }
}

TEST_F(ServiceTest, UnknownIdsAreNotFound) {
  Start();
  const std::string job = "job-0123456789abcdef";
  const std::string sha(64, 'a');
  v1::Job j;
  v1::GetJobRequest get;
  get.set_job_id(job);
  EXPECT_EQ(stub_->GetJob(Ctx().get(), get, &j).error_code(), grpc::StatusCode::NOT_FOUND);
  std::vector<v1::JobEvent> events;
  EXPECT_EQ(Watch(job, 0, &events).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::GetDatasetRequest gd;
  gd.set_dataset_id("ds-0123456789abcdef");
  v1::Dataset ds;
  EXPECT_EQ(stub_->GetDataset(Ctx().get(), gd, &ds).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status s;
  DownloadAll(stub_.get(), sha, 0, &s, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::PredictRequest p;
  p.set_checkpoint_id(sha);
  p.add_rows()->add_values(1);
  v1::PredictResponse pr;
  EXPECT_EQ(stub_->Predict(Ctx().get(), p, &pr).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::Job none;
  v1::GetJobRequest empty;
  s = stub_->GetJob(Ctx().get(), empty, &none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("job_id"), std::string::npos);
}

TEST_F(ServiceTest, ServerInfoReportsLimits) {
  Start([](server::ServerOptions& o) { o.max_dataset_bytes = 12345; });
  v1::ServerInfo info;
  ASSERT_TRUE(stub_->GetServerInfo(Ctx().get(), {}, &info).ok());
  EXPECT_FALSE(info.version().empty());
  EXPECT_EQ(info.workers(), 1);
  EXPECT_EQ(info.limits().max_dataset_bytes(), 12345);
  EXPECT_DOUBLE_EQ(info.heartbeat_interval_seconds(), 0.2);
}

}  // namespace
}  // namespace trainyard::testing
