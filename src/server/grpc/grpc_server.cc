#include "server/grpc/grpc_server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_format.h"
#include "grpc/grpc.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/grpc/service.h"

namespace popqueue::server {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(Queue* queue, GrpcOptions options) {
  if (queue == nullptr) return absl::InvalidArgumentError("queue: must not be null");
  if (!queue->status().ok()) return queue->status();
  if (options.address.empty()) {
    return absl::InvalidArgumentError("address: expected host:port, e.g. 0.0.0.0:50051");
  }
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_message_bytes: must be at least 1024, got %d", options.max_message_bytes));
  }
  auto access = AccessPolicy::Create({.legacy_token = options.token,
                                      .tokens = options.tokens,
                                      .public_reads = options.public_reads});
  if (!access.ok()) return access.status();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<PopQueueService>(queue, *std::move(access));
  grpc::ServerBuilder builder;
  // No TLS here: terminate it in front of the server (or add it when needed).
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  // gRPC binds with SO_REUSEPORT by default: a second server on the same port
  // would start "successfully" and share the traffic. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> started = builder.BuildAndStart();
  bool listening = started && server->port_ != 0;
  {
    MutexLock lock(&server->mu_);
    server->server_ = std::move(started);
  }
  if (!listening) {
    return absl::UnavailableError(absl::StrFormat(
        "gRPC server could not listen on %s (address in use, or not host:port?)", options.address));
  }
  return server;
}

void GrpcServer::Stop() {
  MutexLock lock(&mu_);
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
  server_.reset();
}

GrpcServer::~GrpcServer() { Stop(); }

}  // namespace popqueue::server
