#include "server/decode_errors.h"

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {
namespace {

class DecodeErrorInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit DecodeErrorInterceptor(const google::protobuf::MethodDescriptor* method)
      : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      // Only gRPC's own answer to a request it could not parse looks like
      // this: every handler status carries a message.
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("cannot decode the ", method_->name(), " request as ",
                         method_->input_type()->full_name(),
                         ": malformed protobuf bytes, a string field that is not valid "
                         "UTF-8, or messages nested more than 100 deep (protobuf's limit)")));
      }
    }
    methods->Proceed();
  }

 private:
  const google::protobuf::MethodDescriptor* method_;
};

}  // namespace

grpc::experimental::Interceptor* DecodeErrorInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // "/trainyard.v1.TrainingService/SubmitJob" -> the method's descriptor.
  static const google::protobuf::ServiceDescriptor* const service =
      v1::SubmitJobRequest::descriptor()->file()->FindServiceByName("TrainingService");
  const std::string_view path = info->method() != nullptr ? info->method() : "";
  const std::string prefix = absl::StrCat("/", service->full_name(), "/");
  if (!path.starts_with(prefix)) return nullptr;
  const google::protobuf::MethodDescriptor* method =
      service->FindMethodByName(std::string(path.substr(prefix.size())));
  // Client-streaming calls parse each message in the reactor's read loop.
  if (method == nullptr || method->client_streaming()) return nullptr;
  return new DecodeErrorInterceptor(method);
}

}  // namespace trainyard::server
