// Status codes a client sees for calls the service never gets to handle:
// auth on every service (reflection included, health exempt), requests
// protobuf cannot decode, and the residual-nesting limit at the edge of what
// protobuf can decode. All through the real transport, with raw bytes where
// the generated stub would refuse to send them.
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "core/layer_registry.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

using ::testing::HasSubstr;
using grpc::StatusCode;

void* Tag(intptr_t i) { return reinterpret_cast<void*>(i); }

// Waits for the one operation in flight on `cq`; false when it failed.
bool Await(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  return ok;
}

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

class ServiceWireErrorsTest : public ServiceFixture {
 protected:
  void StartWithToken() {
    dir_ = (std::filesystem::temp_directory_path() /
            ("svc-wire-" + std::to_string(getpid())))
               .string();
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/token") << "s3cret-token\n";
    Start([this](server::ServerOptions& o) { o.auth_token_file = dir_ + "/token"; });
  }

  std::unique_ptr<grpc::ClientContext> RawCtx(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  // One ServerReflectionRequest{list_services: ""} on the reflection
  // service's bidi stream; the first response's bytes go to `reply`.
  grpc::Status ListServicesByReflection(const std::string& token, std::string* reply) {
    grpc::GenericStub stub(channel_);
    auto ctx = RawCtx(token);
    grpc::CompletionQueue cq;
    auto call = stub.PrepareCall(
        ctx.get(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    call->StartCall(Tag(1));
    Await(cq);
    grpc::Slice request(std::string("\x3a\x00", 2));  // field 7 (list_services), ""
    grpc::ByteBuffer request_buffer(&request, 1);
    call->Write(request_buffer, Tag(2));
    Await(cq);
    call->WritesDone(Tag(3));
    Await(cq);
    grpc::ByteBuffer response;
    call->Read(&response, Tag(4));
    if (Await(cq)) *reply = Bytes(response);
    grpc::Status status;
    call->Finish(&status, Tag(5));
    Await(cq);
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  // A unary call of `method` with `request` as its exact bytes.
  grpc::Status RawUnary(const std::string& method, const std::string& request) {
    grpc::GenericStub stub(channel_);
    auto ctx = RawCtx(token_);
    grpc::CompletionQueue cq;
    grpc::Slice slice(request);
    grpc::ByteBuffer buffer(&slice, 1);
    auto call = stub.PrepareUnaryCall(ctx.get(), method, buffer, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, Tag(1));
    Await(cq);
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  // `TinyJob` validated only, its model `depth` residual blocks deep.
  grpc::Status SubmitNested(const std::string& dataset_id, int depth) {
    v1::SubmitJobRequest r = TinyJob(dataset_id, 1);
    r.set_validate_only(true);
    v1::ModelSpec& model = *r.mutable_model();
    model.clear_layers();
    model.set_input_dim(2);
    v1::LayerSpec* layer = model.add_layers();
    for (int i = 0; i < depth; ++i) layer = layer->mutable_residual()->add_layers();
    layer->mutable_activation()->set_kind(v1::TANH);
    model.add_layers()->mutable_dense()->set_units(2);
    v1::Job job;
    return stub_->SubmitJob(Ctx().get(), r, &job);
  }
};

TEST_F(ServiceWireErrorsTest, ReflectionWithoutTokenIsUnauthenticated) {
  StartWithToken();
  std::string reply;
  grpc::Status s = ListServicesByReflection("", &reply);
  EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("authorization: Bearer"));
  EXPECT_TRUE(reply.empty());
  s = ListServicesByReflection("wrong-token!", &reply);
  EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << s.error_message();

  // With the token, reflection answers and lists the service.
  s = ListServicesByReflection("s3cret-token", &reply);
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_THAT(reply, HasSubstr("trainyard.v1.TrainingService"));
}

TEST_F(ServiceWireErrorsTest, HealthNeedsNoTokenAndOtherServicesDo) {
  StartWithToken();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = health->Check(RawCtx("").get(), {}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  // The exemption is the health service's path, not any method of that name.
  v1::ServerInfo info;
  s = stub_->GetServerInfo(Ctx().get(), {}, &info);
  EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED);
  // An unknown method is refused for want of a token before anything else.
  EXPECT_EQ(RawUnary("/grpc.health.v1.HealthX/Check", "").error_code(),
            StatusCode::UNAUTHENTICATED);
}

TEST_F(ServiceWireErrorsTest, InvalidUtf8IsInvalidArgumentWithAMessage) {
  Start();
  // GetJobRequest{job_id: "\xff"}: field 1, length 1, a byte that is not
  // UTF-8 (proto3 strings must be).
  grpc::Status s =
      RawUnary("/trainyard.v1.TrainingService/GetJob", std::string("\x0a\x01\xff", 3));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_code();
  EXPECT_THAT(s.error_message(),
              HasSubstr("cannot decode the GetJob request as trainyard.v1.GetJobRequest"));
  // Server-streaming requests too.
  s = RawUnary("/trainyard.v1.TrainingService/WatchJob", std::string("\x0a\x01\xff", 3));
  EXPECT_NE(s.error_code(), StatusCode::UNIMPLEMENTED) << s.error_message();
  // The same bytes as valid UTF-8 reach the handler (NOT_FOUND or
  // INVALID_ARGUMENT for the id, never a decode error).
  s = RawUnary("/trainyard.v1.TrainingService/GetJob", std::string("\x0a\x01x", 3));
  EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr("cannot decode")));
  EXPECT_FALSE(s.ok());
  // A method the service does not have is still UNIMPLEMENTED.
  EXPECT_EQ(RawUnary("/trainyard.v1.TrainingService/NoSuchMethod", "").error_code(),
            StatusCode::UNIMPLEMENTED);
}

TEST_F(ServiceWireErrorsTest, NestingLimitIsReachableOverTheWire) {
  Start();
  const v1::Dataset ds = UploadOk();
  constexpr int kLimit = LayerWalker::kMaxNesting;
  grpc::Status s = SubmitNested(ds.id(), kLimit);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = SubmitNested(ds.id(), kLimit + 1);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("residual is nested too deeply: at most " + std::to_string(kLimit) +
                        " residual blocks"));
  // Past protobuf's own limit (100 message levels, two per block) the
  // request cannot be decoded at all: a decode error, still with a message.
  s = SubmitNested(ds.id(), 49);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cannot decode the SubmitJob request"));
  // 48 is the deepest protobuf decodes: the limit's message, not a decode error.
  s = SubmitNested(ds.id(), 48);
  EXPECT_THAT(s.error_message(), HasSubstr("nested too deeply"));
}

}  // namespace
}  // namespace trainyard::testing
