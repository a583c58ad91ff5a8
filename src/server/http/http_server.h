// HttpServer: the REST API (/api/...), the web dashboard (/), /metrics,
// /healthz and /readyz over one popqueue::Queue. A thin adapter: every route
// is one or two Queue calls plus JSON; see docs/rest.md.
//
//   server::Metrics metrics;
//   queue.OnEvent(metrics.Listener());
//   auto http = server::HttpServer::Start(&queue, {.port = 3000, .metrics = &metrics});
//   ...
//   (*http)->Stop();
//
// Thread-safety: Start/Stop/port/ReloadTls may be called from any thread; requests run
// on the server's own thread pool.
#ifndef POPQUEUE_SERVER_HTTP_HTTP_SERVER_H_
#define POPQUEUE_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "popqueue/queue.h"
#include "server/access.h"
#include "server/metrics.h"
#include "server/tls.h"

namespace popqueue::server {

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 3000;  // 0 = pick a free port (see HttpServer::port())
  // The original single bearer token: every mutating route (POST, DELETE)
  // needs it, reads stay open unless `tokens` or public_reads say otherwise.
  // "" = none. It acts with scope admin and the id "token".
  std::string token;
  // Scoped tokens (read, write, admin; docs/security.md). With any of them,
  // read routes need a read token too, unless public_reads is true.
  std::vector<AccessToken> tokens;
  std::optional<bool> public_reads;  // nullopt = open unless `tokens`
  size_t max_body_bytes = 1 << 20;   // larger request bodies get 413
  bool cors = false;                 // Access-Control-Allow-* headers
  int threads = 0;                   // request threads; 0 = automatic
  // cert_file and key_file set: HTTPS only (a plain HTTP client gets no
  // answer), the pair re-read by ReloadTls(). client_ca_file is gRPC's.
  TlsFiles tls;
  // Counters for /metrics and /api/stats; not owned. nullptr = the server
  // keeps its own, which then count only its enqueues (no worker events).
  Metrics* metrics = nullptr;
  // Only /metrics, /healthz and /readyz (`popqueue worker --metrics-address`,
  // or a C++ program that runs workers): every other path is 404.
  bool probes_only = false;
};

// One route, as documented in the OpenAPI document.
struct RouteInfo {
  std::string_view method;  // "GET", "POST", "DELETE"
  std::string_view path;    // "/api/jobs/{id}"
  Scope scope;              // the token scope it needs (kOpen: none)
};

class HttpServer {
 public:
  // Listens on options.host:options.port and serves `queue` (not owned; it
  // must outlive the server) until Stop(). Returns once listening;
  // Unavailable when the address cannot be bound, InvalidArgument for bad
  // tokens (AccessPolicy::Create).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(Queue* queue, HttpOptions options);
  // Every route the server registers.
  static std::vector<RouteInfo> Routes();

  ~HttpServer();  // Stop()s.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // True when serving HTTPS.
  bool tls() const;
  // Re-reads the certificate and key: handshakes after an OK return present
  // the new pair; on error the previous one stays. FailedPrecondition
  // without TLS.
  absl::Status ReloadTls();
  // The served certificate ("subject ..., serial ..."), "" without TLS.
  std::string TlsDescription() const;
  // Stops accepting, finishes requests in flight and joins the threads.
  // Idempotent.
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_HTTP_HTTP_SERVER_H_
