// Undecodable requests: INVALID_ARGUMENT with a message, not UNIMPLEMENTED.
//
// gRPC 1.51's callback API parses a unary request before the handler runs
// and, when protobuf refuses the bytes (a string field that is not valid
// UTF-8, messages nested deeper than protobuf's recursion limit of 100,
// malformed wire data), finishes the call itself with UNIMPLEMENTED and an
// empty message — the handler never sees it and the parse error is not kept.
// This interceptor rewrites exactly that status, on the TrainingService's own
// methods (whose handlers never answer UNIMPLEMENTED without a message), to
// INVALID_ARGUMENT naming the method and the request type. See
// docs/decisions.md for the alternatives (raw-bytes handlers, a generic
// service).
//
// Streaming requests (the uploads) are not covered: there a message that
// does not parse ends the read loop like the end of the stream, and the
// reactors answer that the upload is incomplete (INVALID_ARGUMENT too).
#ifndef TRAINYARD_SERVER_DECODE_ERRORS_H_
#define TRAINYARD_SERVER_DECODE_ERRORS_H_

#include "grpcpp/support/server_interceptor.h"

namespace trainyard::server {

class DecodeErrorInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_DECODE_ERRORS_H_
