// popqueue serve: the REST API and dashboard (:3000), the gRPC service
// (:50051) and /metrics over one Queue, and the leader-elected maintenance
// (rescuer, cleaner, cron) that worker processes also run, so servers plus
// remote workers need no `popqueue worker`; with --demo, demo workers and a
// stream of sample jobs in the same process.
//
// Signals: SIGINT and SIGTERM stop (taken by sigwait in the main thread, or
// by the demo's Queue); SIGHUP re-reads the TLS certificate and key, taken
// by a thread of its own. All three are blocked in every thread before any
// starts, so no other thread receives them.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/demo.h"
#include "cli/notifications.h"
#include "common/log.h"
#include "config/keys.h"
#include "config/schedules.h"
#include "config/validate.h"
#include "server/access.h"
#if POPQUEUE_WITH_GRPC
#include "server/grpc/grpc_server.h"
#endif
#include "server/http/http_server.h"
#include "server/metrics.h"

namespace popqueue::cli {
namespace {

// Blocks until SIGINT or SIGTERM. The signals are blocked in every thread
// (set before any thread starts) and taken here with sigwait.
void WaitForStopSignal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "popqueue: received %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
}

// "; mutating calls need the bearer token", "; 3 tokens, reads need a read
// token", ... for the start-up line.
std::string AccessSummary(const server::AccessOptions& access) {
  size_t n = access.tokens.size() + (access.legacy_token.empty() ? 0 : 1);
  if (n == 0) return "; no token: every call is open";
  auto policy = server::AccessPolicy::Create(access);
  bool public_reads = policy.ok() && policy->public_reads();
  if (access.tokens.empty()) {
    return public_reads ? "; mutating calls need the bearer token"
                        : "; every call but /healthz and /readyz needs the bearer token";
  }
  return absl::StrFormat("; %d token%s, %s", n, n == 1 ? "" : "s",
                         public_reads ? "reads open (--public-reads)" : "reads need a read token");
}

// Runs `reload` on every SIGHUP until destroyed. SIGHUP must be blocked in
// every thread already.
class SighupReloader {
 public:
  explicit SighupReloader(std::function<void()> reload)
      : thread_([this, reload = std::move(reload)] {
          sigset_t set;
          sigemptyset(&set);
          sigaddset(&set, SIGHUP);
          for (;;) {
            int sig = 0;
            sigwait(&set, &sig);
            if (stop_) return;
            reload();
          }
        }) {}
  ~SighupReloader() {
    stop_ = true;
    pthread_kill(thread_.native_handle(), SIGHUP);  // pending for it alone
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

int RunServe(const Args& args) {
  FlagSet flags("serve", "[flags]",
                "Serves the REST API and the dashboard, the gRPC service and /metrics "
                "over the job\nstore until SIGINT/SIGTERM. Mutating calls need "
                "`Authorization: Bearer TOKEN` when\n--token (env POPQUEUE_TOKEN) is "
                "set. --tokens id:scope:secret,... (env POPQUEUE_TOKENS)\ngives tokens "
                "of scope read, write or admin; with them, reads need a read token\n"
                "unless --public-reads (docs/security.md).\n\n--tls-cert and --tls-key "
                "make both ports TLS only; SIGHUP re-reads them.\n\n--demo also runs demo workers "
                "in this process with a stream "
                "of sample jobs\n(immediate, delayed, prioritized, failing until dead, "
                "and a recurring one every\n10 seconds), so the dashboard is live at "
                "once.");
  flags.AddValue("host", "ADDRESS", "HTTP listen address (env POPQUEUE_HOST; default 0.0.0.0)");
  flags.AddValue("port", "N",
                 "HTTP port, 0 = any free port (env POPQUEUE_PORT; default "
                 "3000)");
  flags.AddValue("grpc-address", "HOST:PORT",
                 "gRPC listen address (env POPQUEUE_GRPC_ADDRESS; default "
                 "0.0.0.0:50051)");
  flags.AddBool("no-grpc", "do not start the gRPC service");
  flags.AddBool("no-maintenance",
                "take no part in leader election: no rescuer, cleaner or cron schedules "
                "here (env POPQUEUE_SERVE_MAINTENANCE=false)");
  flags.AddValue("max-fetch-wait", "DURATION",
                 "the longest long-poll wait of a gRPC FetchJobs (env "
                 "POPQUEUE_MAX_FETCH_WAIT; default 20s)");
  flags.AddValue("token", "TOKEN", "bearer token for mutating calls (env POPQUEUE_TOKEN)");
  flags.AddValue("tokens", "ID:SCOPE:SECRET,...",
                 "scoped tokens, scope read, write or admin (env "
                 "POPQUEUE_TOKENS)");
  flags.AddBool("public-reads",
                "leave reads open even with --tokens (env "
                "POPQUEUE_PUBLIC_READS)");
  flags.AddBool("cors",
                "send CORS headers, e.g. for ui/index.html opened from disk "
                "(env POPQUEUE_CORS)");
  flags.AddValue("log-level", "LEVEL", "debug, info, warn or error (env POPQUEUE_LOG_LEVEL)");
  flags.AddBool("demo", "run demo workers and a stream of sample jobs");
  AddKeyFlags(flags, "TLS flags (docs/security.md)",
              {config::key::kTlsCert, config::key::kTlsKey, config::key::kGrpcClientCa});
  AddKeyFlags(flags, "Limit flags",
              {config::key::kMaxRequestBytes, config::key::kMaxPayloadBytes,
               config::key::kGrpcMaxMessageBytes});
  AddWorkerFlags(flags);  // for the --demo workers
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  int exit_code = kExitOk;
  std::optional<config::Config> loaded = LoadConfigOrReport(flags, &exit_code);
  if (!loaded) return exit_code;
  const config::Config& settings = *loaded;
  ApplyLogLevel(settings);

  server::HttpOptions http;
  http.host = settings.GetString(config::key::kHost);
  http.port = static_cast<int>(settings.GetInt(config::key::kPort));
  http.max_body_bytes = static_cast<size_t>(settings.GetInt(config::key::kMaxRequestBytes));
  http.cors = settings.GetBool(config::key::kCors);
  const server::TlsFiles tls = config::TlsFilesOf(settings);  // checked at load
  http.tls = tls;
#if POPQUEUE_WITH_GRPC
  server::GrpcOptions grpc;
#else
  struct {
    std::string address, token;
    std::vector<server::AccessToken> tokens;
    std::optional<bool> public_reads;
    int max_message_bytes;
    server::TlsFiles tls;
  } grpc;
#endif
  grpc.address = settings.GetString(config::key::kGrpcAddress);
  grpc.max_message_bytes = static_cast<int>(settings.GetInt(config::key::kGrpcMaxMessageBytes));
#if POPQUEUE_WITH_GRPC
  grpc.max_fetch_wait = settings.GetDuration(config::key::kMaxFetchWait);
#endif
  grpc.tls = tls;
  server::AccessOptions access = config::AccessOptionsOf(settings);
  http.token = grpc.token = access.legacy_token;
  http.tokens = grpc.tokens = access.tokens;
  http.public_reads = grpc.public_reads = access.public_reads;
  const bool grpc_enabled = settings.GetBool(config::key::kGrpcEnabled);
  const bool demo = flags.GetBool("demo");
  // Without --demo serve runs no workers of its own: flags that only size
  // in-process workers would do nothing, so they are refused (remote
  // workers' limits, leases and heartbeats do apply here). The same keys
  // from the environment or a config.json shared with workers are fine.
  if (!demo) {
    for (std::string_view flag : {"max-prefetch", "resource-limits", "shutdown-deadline"}) {
      if (flags.Has(flag)) {
        return UsageError(
            flags, absl::StrFormat("--%s concerns in-process workers, and serve runs none "
                                   "without --demo (remote workers fetch what they ask for); "
                                   "pass it to `popqueue worker`",
                                   flag));
      }
    }
  }

  QueueConfig config = settings.ToQueueConfig();
  if (demo) ConfigureDemo(config);
  // Without --demo this process serves the API only; Start() is not called,
  // so signals are ours to wait for.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (!demo) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  sigset_t reload_signal;
  sigemptyset(&reload_signal);
  sigaddset(&reload_signal, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &reload_signal, nullptr);

  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, std::move(config), &exit_code);
  if (queue == nullptr) return exit_code;
  absl::StatusOr<std::unique_ptr<Notifications>> notifications =
      Notifications::Start(settings, *queue);
  if (!notifications.ok()) {
    return Failure("serve: notifications", notifications.status());
  }

  server::Metrics metrics;
  if (absl::Status s = queue->OnEvent(metrics.Listener()); !s.ok()) {
    return Failure("serve", s);
  }
  http.metrics = &metrics;
  auto http_server = server::HttpServer::Start(queue.get(), http);
  if (!http_server.ok()) return Failure("serve: HTTP", http_server.status());
#if POPQUEUE_WITH_GRPC
  std::unique_ptr<server::GrpcServer> grpc_server;
  if (grpc_enabled) {
    auto started = server::GrpcServer::Start(queue.get(), grpc);
    if (!started.ok()) return Failure("serve: gRPC", started.status());
    grpc_server = std::move(*started);
  }
#else
  struct NoGrpc {
    int port() const { return 0; }
    void Stop() {}
  };
  std::unique_ptr<NoGrpc> grpc_server;  // this build has no gRPC service
#endif
  std::fprintf(stderr, "popqueue: dashboard and REST API on %s://%s:%d/%s%s%s\n",
               tls.enabled() ? "https" : "http",
               http.host == "0.0.0.0" ? "localhost" : http.host.c_str(), (*http_server)->port(),
               grpc_server ? absl::StrFormat("; gRPC on port %d", grpc_server->port()).c_str() : "",
               tls.enabled() ? "; TLS only (SIGHUP re-reads the certificate)" : "",
               AccessSummary(access).c_str());
  if (tls.enabled()) {
    Logf(LogLevel::kInfo, "tls: serving %s", (*http_server)->TlsDescription());
  }
  SighupReloader reloader([&] {
    if (!tls.enabled()) {
      Logf(LogLevel::kInfo, "SIGHUP: no TLS configured, nothing to reload");
      return;
    }
    absl::Status s = (*http_server)->ReloadTls();
#if POPQUEUE_WITH_GRPC
    if (s.ok() && grpc_server) s = grpc_server->ReloadTls();
#endif
    if (s.ok()) {
      Logf(LogLevel::kInfo, "SIGHUP: TLS certificate reloaded: %s",
           (*http_server)->TlsDescription());
    } else {
      Logf(LogLevel::kError, "SIGHUP: TLS reload refused, the previous certificate stays: %s",
           s.message());
    }
  });

  // Without workers here, serve still elects a leader and maintains: the
  // leases of dead remote workers are rescued with no `popqueue worker`
  // anywhere. The --demo workers do it themselves.
  // config.json's schedules run with the maintenance (or the demo workers):
  // each fire is enqueued once across every process that declares them.
  if (absl::Status s = config::DefineSchedules(config::SchedulesOf(settings), *queue); !s.ok()) {
    return Failure("serve", s);
  }
  if (!demo && settings.GetBool(config::key::kServeMaintenance)) {
    if (absl::Status s = queue->StartMaintenance(); !s.ok()) return Failure("serve", s);
  }
  if (demo) {
    if (absl::Status s = queue->Define("demo-tick", [](const Job&) { return true; }); !s.ok()) {
      return Failure("serve", s);
    }
    if (absl::Status s = queue->Every("demo-tick", "*/10 * * * * *", R"({"source":"cron"})",
                                      {.job = {.queue = kDemoQueue}});
        !s.ok()) {
      return Failure("serve", s);
    }
    exit_code = RunDemo(*queue, DemoOptions{});  // until SIGINT/SIGTERM
  } else {
    WaitForStopSignal(stop_signals);
  }
  if (grpc_server) grpc_server->Stop();
  (*http_server)->Stop();
  queue->Stop();  // maintenance: resigns the leadership
  (*notifications)->Stop();
  return exit_code;
}

}  // namespace popqueue::cli
