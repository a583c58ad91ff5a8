#include "server/grpc/auth.h"

#include "absl/strings/str_format.h"
#include "grpcpp/server_context.h"

namespace popqueue::server {
namespace {

// Reads need read; adding and working jobs (the worker protocol) need
// write; changing jobs and queues that exist needs admin. The REST routes
// follow the same rule (routes_*.cc).
constexpr RpcScope kRpcScopes[] = {
    {"GetJobDetails", Scope::kRead},    {"GetJob", Scope::kRead},
    {"ListJobs", Scope::kRead},         {"Enqueue", Scope::kWrite},
    {"FetchJobs", Scope::kWrite},       {"CompleteJob", Scope::kWrite},
    {"FailJob", Scope::kWrite},         {"Heartbeat", Scope::kWrite},
    {"RequeueJob", Scope::kAdmin},      {"CancelJob", Scope::kAdmin},
    {"RegisterWorker", Scope::kWrite},  {"DeregisterWorker", Scope::kWrite},
    {"EnqueueWorkflow", Scope::kWrite}, {"GetWorkflow", Scope::kRead},
    {"EnqueueBatch", Scope::kWrite},    {"GetBatch", Scope::kRead},
    {"ListSchedules", Scope::kRead},
};

}  // namespace

std::span<const RpcScope> RpcScopes() { return kRpcScopes; }

std::optional<Scope> ScopeOfRpc(std::string_view method) {
  for (const RpcScope& r : kRpcScopes) {
    if (r.method == method) return r.scope;
  }
  return std::nullopt;
}

absl::StatusOr<Caller> AuthorizeRpc(const grpc::ServerContext& context, const AccessPolicy& policy,
                                    std::string_view method, std::string* who) {
  *who = "-";
  std::optional<Scope> scope = ScopeOfRpc(method);
  if (!scope) {
    // A new RPC without a row in the table: refused until it has one.
    return absl::PermissionDeniedError(
        absl::StrFormat("%s has no scope in server/grpc/auth.cc", method));
  }
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  std::string_view value;
  if (it != metadata.end()) value = std::string_view(it->second.data(), it->second.size());
  return policy.Authorize(value, *scope, who);
}

}  // namespace popqueue::server
