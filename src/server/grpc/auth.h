// Access control for the gRPC service: the scope each RPC of
// popqueue.PopQueue needs (one table, walked by the security tests), the
// check of the "authorization: Bearer <token>" metadata against the shared
// AccessPolicy (server/access.h), and the audit line of every mutating call.
#ifndef POPQUEUE_SERVER_GRPC_AUTH_H_
#define POPQUEUE_SERVER_GRPC_AUTH_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/access.h"

namespace grpc {
class ServerContext;
}  // namespace grpc

namespace popqueue::server {

struct RpcScope {
  std::string_view method;  // "RequeueJob"
  Scope scope;
};

// Every RPC of popqueue.PopQueue with the scope it needs (docs/security.md).
std::span<const RpcScope> RpcScopes();
// The scope of `method`, or nullopt for a method not in the table (which the
// service then refuses).
std::optional<Scope> ScopeOfRpc(std::string_view method);

// The caller of `method`, or Unauthenticated / PermissionDenied as
// AccessPolicy::Authorize decides from the call's "authorization" metadata;
// `who` as there.
absl::StatusOr<Caller> AuthorizeRpc(const grpc::ServerContext& context, const AccessPolicy& policy,
                                    std::string_view method, std::string* who);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_GRPC_AUTH_H_
