// Bearer-token checks for the gRPC service.
#ifndef POPQUEUE_SERVER_GRPC_AUTH_H_
#define POPQUEUE_SERVER_GRPC_AUTH_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace grpc {
class ServerContext;
}  // namespace grpc

namespace popqueue::server {

// Compares in time that depends only on the lengths, never on where the
// inputs first differ, so a caller cannot guess a token byte by byte.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// OK when `token` is empty (auth off) or the call carries the metadata
// "authorization: Bearer <token>"; Unauthenticated otherwise. The message
// never contains the token or what the caller sent.
absl::Status CheckBearerToken(const grpc::ServerContext& context, const std::string& token);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_GRPC_AUTH_H_
