// The gRPC server: service popqueue.PopQueue (proto/popqueue.proto) over a
// popqueue::Queue, the same queue that C++ users call. See docs/grpc.md.
//
//   auto server = popqueue::server::GrpcServer::Start(&queue, {.token = "s3cret"});
//   if (!server.ok()) return server.status();
//   ... (*server)->port() ...
//   (*server)->Stop();
#ifndef POPQUEUE_SERVER_GRPC_GRPC_SERVER_H_
#define POPQUEUE_SERVER_GRPC_GRPC_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "popqueue/queue.h"
#include "server/access.h"
#include "server/tls.h"

namespace grpc {
class Server;
namespace experimental {
class CertificateProviderInterface;
}  // namespace experimental
}  // namespace grpc

namespace popqueue::server {

class PopQueueService;

struct GrpcOptions {
  std::string address = "0.0.0.0:50051";  // host:port; port 0 = a free port
  // The original single token: when set, mutating calls need the metadata
  // "authorization: Bearer <token>" (scope admin, id "token").
  std::string token;
  // Scoped tokens and public reads, as HttpOptions (docs/security.md).
  std::vector<AccessToken> tokens;
  std::optional<bool> public_reads;
  int max_message_bytes = 4 << 20;  // largest request accepted
  // The longest long-poll FetchJobs wait honoured (longer ones are cut).
  absl::Duration max_fetch_wait = absl::Seconds(20);
  // cert_file and key_file set: TLS only. client_ca_file set: every client
  // must present a certificate signed by one of its CAs.
  TlsFiles tls;
};

// Thread-safety: port() and Stop() may be called from any thread. The Queue
// must outlive the server.
class GrpcServer {
 public:
  // Listens on options.address and serves on gRPC's own threads until Stop().
  // Unavailable when the address cannot be bound, InvalidArgument for bad
  // options (tokens: AccessPolicy::Create).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(Queue* queue, GrpcOptions options);
  ~GrpcServer();  // Stop()

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound port (the chosen one when options.address asked for port 0).
  int port() const { return port_; }
  // Stops accepting calls, lets calls in progress finish (up to a few
  // seconds, then cancels them) and returns when the server is down.
  // Idempotent.
  void Stop();
  // True when serving TLS.
  bool tls() const { return !tls_dir_.empty(); }
  // Checks the configured files again and hands them to gRPC, which
  // presents the new certificate (and trusts the new client CAs) within
  // about a second, for new connections. On error nothing changes.
  // FailedPrecondition without TLS or once stopped.
  absl::Status ReloadTls();

 private:
  GrpcServer() = default;
  absl::Status WriteTlsCopies() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<PopQueueService> service_;
  Mutex mu_;
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  int port_ = 0;
  TlsFiles tls_files_;
  // The private folder of the files gRPC watches; "" without TLS.
  std::string tls_dir_;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_GRPC_GRPC_SERVER_H_
