// The HTTP front: one catch-all httplib handler per method feeds Dispatch(),
// which matches the route table (routes_*.cc), then applies what every route
// shares: the token scope the route needs (server/access.h), the JSON
// content type and the body limit, CORS, security headers, the JSON error
// shape and the audit line of every mutation. Keeping the table ours (not
// httplib's regexes) lets the OpenAPI and security tests walk it and gives
// 404 vs 405 for free.
//
// With TLS files (HttpOptions::tls) the listener is httplib's SSLServer
// and speaks HTTPS only; its SSL context asks the TlsIdentity for the
// certificate at each handshake (server/tls.h), so ReloadTls() needs no new
// listener.
#include "server/http/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errno_text.h"
#include "common/field_error.h"
#include "common/log.h"
#include "common/thread.h"
#include "httplib.h"
#include "server/http/request_json.h"
#include "server/http/routes.h"

namespace popqueue::server {

Reply JsonReply(const nlohmann::json& value, int status) {
  return Reply{.status = status, .body = DumpJson(value)};
}

Reply ErrorReply(const ApiError& error) {
  Reply r = JsonReply(ApiErrorJson(error), error.http_status);
  if (error.http_status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

Reply ErrorReply(const absl::Status& status) {
  ApiError error = ToApiError(status);
  if (std::optional<Scope> scope = RequiredScopeOf(status)) {
    error.required_scope = std::string(ScopeName(*scope));
  }
  return ErrorReply(error);
}

namespace {

const std::vector<Route>& AllRoutes() {
  static const auto* routes = [] {
    auto* all = new std::vector<Route>(JobRoutes());
    for (Route& r : WorkflowRoutes()) all->push_back(r);
    for (Route& r : AdminRoutes()) all->push_back(r);
    return all;
  }();
  return *routes;
}

// The routes of a worker's endpoint (HttpOptions::probes_only).
bool IsProbeRoute(const Route& r) {
  return r.path == "/metrics" || r.path == "/healthz" || r.path == "/readyz";
}

// Matches `path` against a route pattern; fills `params` with the {values}.
bool MatchPath(std::string_view pattern, std::string_view path, std::vector<std::string>* params) {
  params->clear();
  std::vector<absl::string_view> want =
      absl::StrSplit(absl::string_view(pattern.data(), pattern.size()), '/');
  std::vector<absl::string_view> got =
      absl::StrSplit(absl::string_view(path.data(), path.size()), '/');
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!want[i].empty() && want[i].front() == '{') {
      if (got[i].empty()) return false;
      params->emplace_back(got[i]);
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  return true;
}

bool IsJsonContentType(const std::string& value) {
  absl::string_view media = absl::StripAsciiWhitespace(
      absl::string_view(value).substr(0, absl::string_view(value).find(';')));
  return absl::EqualsIgnoreCase(media, "application/json");
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Queue* queue, HttpOptions options, AccessPolicy access)
      : queue_(queue), options_(std::move(options)), access_(std::move(access)) {
    if (options_.metrics == nullptr) {
      own_metrics_ = std::make_unique<Metrics>(queue_->config().clock);
      options_.metrics = own_metrics_.get();
    }
  }

  absl::Status Listen() {
    if (options_.tls.enabled()) {
      absl::StatusOr<std::unique_ptr<TlsIdentity>> identity =
          TlsIdentity::Load(options_.tls.cert_file, options_.tls.key_file);
      if (!identity.ok()) return identity.status();
      identity_ = *std::move(identity);
      auto ssl = std::make_unique<httplib::SSLServer>(
          [this](SSL_CTX& ctx) { return identity_->Configure(ctx); });
      if (!ssl->is_valid()) return absl::InternalError("TLS: cannot set up the SSL context");
      server_ = std::move(ssl);
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    size_t threads = options_.threads > 0
                         ? static_cast<size_t>(options_.threads)
                         : std::max<size_t>(64, 16 * std::thread::hardware_concurrency());
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_payload_max_length(options_.max_body_bytes);
    server_->set_keep_alive_max_count(1000);
    server_->set_keep_alive_timeout(2);
    server_->set_tcp_nodelay(true);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Dispatch(req, res);
    };
    server_->Get(".*", handler);
    server_->Post(".*", handler);
    server_->Put(".*", handler);
    server_->Patch(".*", handler);
    server_->Delete(".*", handler);
    server_->Options(".*", handler);
    // Errors httplib answers itself (413 for a large body, 400 for a bad
    // request line) get the JSON error shape too.
    server_->set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          ApiError e{.http_status = res.status,
                     .code = "INVALID_ARGUMENT",
                     .message = absl::StrCat("HTTP ", res.status)};
          if (res.status == 413) {
            e.code = "RESOURCE_EXHAUSTED";
            e.field = "body";
            e.message = absl::StrCat("body: request body exceeds the limit of ",
                                     options_.max_body_bytes, " bytes");
          } else if (res.status >= 500) {
            e.code = "INTERNAL";
          }
          WriteReply(ErrorReply(e), res);
          return httplib::Server::HandlerResponse::Handled;
        }));
    server_->set_exception_handler(
        [this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          WriteReply(ErrorReply(absl::InternalError("internal error")), res);
        });

    // httplib's default sets SO_REUSEPORT, which lets a second server bind
    // a port already served (and silently share its connections): only
    // SO_REUSEADDR here, so a busy port is an error.
    server_->set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_socket_ = sock;
    });
    if (options_.port == 0) {
      port_ = server_->bind_to_any_port(options_.host);
    } else if (server_->bind_to_port(options_.host, options_.port)) {
      port_ = options_.port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrFormat("cannot listen on %s:%d: %s", options_.host,
                                                    options_.port, ErrnoText(errno)));
    }
    // Debian's cpp-httplib listens with a backlog of 5, compiled in: bursts
    // of new connections would be dropped. listen() again raises it.
    if (listen_socket_ >= 0) ::listen(listen_socket_, kListenBacklog);
    thread_ = StartThread([this] {
      server_->listen_after_bind();
      listen_returned_ = true;
    });
    // stop() only takes effect once the accept loop runs: wait for it.
    while (!server_->is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!server_->is_running()) {
      thread_.join();
      return absl::UnavailableError(absl::StrFormat("cannot serve on %s:%d", options_.host, port_));
    }
    return absl::OkStatus();
  }

  void Stop() {
    std::call_once(stopped_, [this] {
      if (server_) server_->stop();
      if (thread_.joinable()) thread_.join();
    });
  }

  int port() const { return port_; }
  TlsIdentity* identity() const { return identity_.get(); }

 private:
  void WriteReply(const Reply& reply, httplib::Response& res) {
    res.status = reply.status;
    res.set_content(reply.body, reply.content_type);
    bool cache_set = false;
    for (const auto& [k, v] : reply.headers) {
      res.set_header(k, v);
      cache_set = cache_set || k == "Cache-Control";
    }
    if (!cache_set) res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    if (options_.cors) {
      res.set_header("Access-Control-Allow-Origin", "*");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Max-Age", "600");
    }
  }

  // Routes `req`; sets *matched to its route once found and *who to the id
  // of the token that passed.
  Reply Route(const httplib::Request& req, const server::Route** matched, std::string* who) {
    std::string method = req.method == "HEAD" ? std::string("GET") : req.method;
    std::vector<std::string> params;
    const server::Route* found = nullptr;
    std::vector<std::string> allowed;
    for (const server::Route& r : AllRoutes()) {
      if (options_.probes_only && !IsProbeRoute(r)) continue;
      if (!MatchPath(r.path, req.path, &params)) continue;
      allowed.emplace_back(r.method);
      if (r.method == method) {
        found = &r;
        break;
      }
    }
    if (found == nullptr && req.method == "OPTIONS" && options_.cors && !allowed.empty()) {
      return Reply{.status = 204, .content_type = "text/plain"};
    }
    if (found == nullptr) {
      if (allowed.empty()) {
        return ErrorReply(ApiError{.http_status = 404,
                                   .code = "NOT_FOUND",
                                   .message = "no such route; see /api/openapi.json"});
      }
      Reply r = ErrorReply(ApiError{
          .http_status = 405,
          .code = "UNIMPLEMENTED",
          .message = absl::StrCat("method ", method,
                                  " not allowed here; allowed: ", absl::StrJoin(allowed, ", "))});
      r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
      return r;
    }
    *matched = found;
    absl::StatusOr<Caller> caller =
        access_.Authorize(req.get_header_value("Authorization"), found->scope, who);
    if (!caller.ok()) return ErrorReply(caller.status());
    if (found->json_body) {
      if (!IsJsonContentType(req.get_header_value("Content-Type"))) {
        return ErrorReply(ApiError{.http_status = 415,
                                   .code = "INVALID_ARGUMENT",
                                   .message = "Content-Type: must be application/json",
                                   .field = "Content-Type"});
      }
      if (req.body.empty()) {
        return ErrorReply(FieldError("body", "required (a JSON object)"));
      }
    }
    RouteContext context{
        .queue = queue_, .metrics = options_.metrics, .request = req, .params = std::move(params)};
    return found->handler(context);
  }

  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    absl::Time start = absl::Now();
    Reply reply;
    const server::Route* route = nullptr;
    std::string who = "-";
    try {
      reply = Route(req, &route, &who);
    } catch (const std::exception& e) {
      Logf(LogLevel::kError, "http: %s %s: %s", req.method, absl::CHexEscape(req.path), e.what());
      reply = ErrorReply(absl::InternalError("internal error"));
    }
    WriteReply(reply, res);
    if (route != nullptr && route->scope >= Scope::kWrite) Audit(req, *route, who, reply);
    if (LogEnabled(LogLevel::kDebug)) {
      // The path only: headers (the token) are never logged.
      Logf(LogLevel::kDebug, "http: %s %s -> %d in %dus", req.method, absl::CHexEscape(req.path),
           reply.status, absl::ToInt64Microseconds(absl::Now() - start));
    }
  }

  // One INFO line per mutation, allowed or not: who (the token id, "-" for
  // none), method, path, status, and which job or queue. Never the body,
  // the query or a header.
  static void Audit(const httplib::Request& req, const server::Route& route, const std::string& who,
                    const Reply& reply) {
    if (!LogEnabled(LogLevel::kInfo)) return;
    std::string target = reply.audit;
    std::vector<std::string> params;
    if (target.empty() && MatchPath(route.path, req.path, &params) && !params.empty()) {
      bool queue =
          absl::StrContains(absl::string_view(route.path.data(), route.path.size()), "{name}");
      target = absl::StrCat(queue ? "queue=" : "job=", absl::CHexEscape(params[0]));
    }
    LogAudit(who, absl::StrCat(std::string(route.method), " ", absl::CHexEscape(req.path)),
             absl::StrCat(reply.status), target);
  }

  Queue* const queue_;
  HttpOptions options_;
  const AccessPolicy access_;
  std::unique_ptr<Metrics> own_metrics_;
  // Declared before server_: the SSL context's callback uses it.
  std::unique_ptr<TlsIdentity> identity_;
  std::unique_ptr<httplib::Server> server_;
  static constexpr int kListenBacklog = 1024;
  int port_ = 0;
  int listen_socket_ = -1;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::once_flag stopped_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Queue* queue, HttpOptions options) {
  if (queue == nullptr) return absl::InvalidArgumentError("queue must not be null");
  auto access = AccessPolicy::Create({.legacy_token = options.token,
                                      .tokens = options.tokens,
                                      .public_reads = options.public_reads});
  if (!access.ok()) return access.status();
  auto impl = std::make_unique<Impl>(queue, std::move(options), *std::move(access));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::vector<RouteInfo> HttpServer::Routes() {
  std::vector<RouteInfo> out;
  for (const Route& r : AllRoutes()) out.push_back(RouteInfo{r.method, r.path, r.scope});
  return out;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }
int HttpServer::port() const { return impl_->port(); }
bool HttpServer::tls() const { return impl_->identity() != nullptr; }

absl::Status HttpServer::ReloadTls() {
  if (impl_->identity() == nullptr) {
    return absl::FailedPreconditionError("the HTTP server does not serve TLS");
  }
  return impl_->identity()->Reload();
}

std::string HttpServer::TlsDescription() const {
  return impl_->identity() == nullptr ? "" : impl_->identity()->Describe();
}
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace popqueue::server
