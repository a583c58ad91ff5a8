// popqueue worker: runs workers until SIGINT/SIGTERM. Handlers come from
// --exec NAME=COMMAND (any language) or --demo (a guided tour).
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/demo.h"
#include "cli/exec_handler.h"
#include "cli/notifications.h"
#include "config/keys.h"
#include "config/redact.h"
#include "config/schedules.h"
#include "config/validate.h"
#include "server/http/http_server.h"
#include "server/metrics.h"

namespace popqueue::cli {
namespace {

// "queueConcurrency emails=20; maxConcurrency 16" for the limits set away
// from their defaults; "" when none is.
std::string DescribeLimits(const config::Config& c) {
  namespace key = config::key;
  std::vector<std::string> parts;
  for (std::string_view k :
       {key::kQueueConcurrency, key::kMaxConcurrency, key::kQueueRateLimits, key::kJobRateLimits,
        key::kMaxHeldJobs, key::kMaxPrefetch, key::kResourceLimits}) {
    const config::Setting* s = c.Get(k);
    if (s == nullptr || !c.IsSet(k)) continue;
    parts.push_back(absl::StrFormat(
        "%s %s", k, Printable(config::RedactedText(*config::FindKey(k), s->value), 200)));
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace

int RunWorker(const Args& args) {
  FlagSet flags("worker", "[flags]",
                "Runs workers until SIGINT/SIGTERM, then drains gracefully: in-flight "
                "jobs get the\nshutdown deadline to finish, the rest are released for "
                "another attempt.\n\n"
                "Handlers: --exec NAME=COMMAND runs `/bin/sh -c COMMAND` for each job "
                "named NAME,\nwith the job's data on stdin and POPQUEUE_JOB_ID, "
                "POPQUEUE_JOB_NAME, POPQUEUE_JOB_QUEUE,\nPOPQUEUE_JOB_IDENTIFIER, "
                "POPQUEUE_JOB_ATTEMPT, POPQUEUE_JOB_MAX_ATTEMPTS in its\nenvironment; "
                "exit 0 is success (stdout becomes the result), anything else a "
                "failure.\n\n"
                "--demo defines demo handlers, enqueues sample jobs on the queues "
                "\"demo\" and\n\"demo-priority\" (immediate, delayed, prioritized, "
                "flaky, failing until dead,\nslow) and prints every transition.");
  flags.AddValue("queues", "A,B", "queues to work (env POPQUEUE_QUEUES; default \"default\")");
  flags.AddValue("concurrency", "N",
                 "jobs run at once per queue, 1..10000 (env "
                 "POPQUEUE_CONCURRENCY; default 10)");
  flags.AddValue("worker-id", "ID", "this worker's id (env WORKER_ID; default host-pid-random)");
  flags.AddValue("job-timeout", "DURATION",
                 "default handler time limit (env WORKER_TIMEOUT in ms; "
                 "default 5m)");
  flags.AddValue("log-level", "LEVEL", "debug, info, warn or error (env POPQUEUE_LOG_LEVEL)");
  flags.AddValue("exec", "NAME=COMMAND", "handle jobs named NAME with a shell command (repeatable)",
                 /*repeatable=*/true);
  flags.AddBool("demo", "run the demo: sample jobs and handlers");
  flags.AddBool("demo-exit-when-done",
                "with --demo: exit once every demo job is final, after a "
                "summary");
  flags.AddValue("demo-timeout", "DURATION",
                 "with --demo-exit-when-done: fail (exit 1) if not done by "
                 "then (default 2m)");
  AddWorkerFlags(flags);
  AddKeyFlags(flags, "Limit flags", {config::key::kMaxPayloadBytes});
  AddKeyFlags(flags, "Endpoint flags (docs/metrics.md)", {config::key::kMetricsAddress});
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  int exit_code = kExitOk;
  std::optional<config::Config> loaded = LoadConfigOrReport(flags, &exit_code);
  if (!loaded) return exit_code;
  ApplyLogLevel(*loaded);
  QueueConfig config = loaded->ToQueueConfig();

  std::vector<std::pair<std::string, std::string>> execs;
  for (const std::string& spec : flags.GetAll("exec")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return UsageError(flags, absl::StrFormat("invalid value \"%s\" for --exec: expected "
                                               "NAME=COMMAND, e.g. email='./send.sh'",
                                               Printable(spec, 60)));
    }
    execs.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }

  const bool demo = flags.GetBool("demo");
  DemoOptions demo_options;
  demo_options.exit_when_done = flags.GetBool("demo-exit-when-done");
  absl::StatusOr<std::optional<absl::Duration>> demo_timeout = flags.GetDuration("demo-timeout");
  if (!demo_timeout.ok()) {
    return UsageError(flags, std::string(demo_timeout.status().message()));
  }
  if (*demo_timeout) demo_options.timeout = **demo_timeout;
  if (!demo && (demo_options.exit_when_done || *demo_timeout)) {
    return UsageError(flags,
                      "--demo-exit-when-done and --demo-timeout need "
                      "--demo");
  }
  if (!demo && execs.empty()) {
    return UsageError(flags,
                      "no handlers: pass --exec NAME=COMMAND (repeatable) or --demo "
                      "(C++ programs define handlers with popqueue::Queue::Define)");
  }
  if (demo) ConfigureDemo(config);

  // A command that exits before reading its stdin must not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, std::move(config), &exit_code);
  if (queue == nullptr) return exit_code;
  absl::StatusOr<std::unique_ptr<Notifications>> notifications =
      Notifications::Start(*loaded, *queue);
  if (!notifications.ok()) {
    return Failure("worker: notifications", notifications.status());
  }
  for (auto& [name, command] : execs) {
    if (absl::Status s = queue->Define(name, ExecHandler(command)); !s.ok()) {
      return Failure(absl::StrFormat("worker: --exec %s", Printable(name, 60)), s);
    }
  }
  if (absl::Status s = config::DefineSchedules(config::SchedulesOf(*loaded), *queue); !s.ok()) {
    return Failure("worker", s);
  }
  if (demo) {
    int code = RunDemo(*queue, demo_options);
    (*notifications)->Stop();
    return code;
  }

  // /metrics, /healthz and /readyz of this process, for Prometheus and the
  // probes of an orchestrator (deploy/kubernetes/worker-deployment.yaml).
  server::Metrics metrics;
  std::unique_ptr<server::HttpServer> endpoint;
  if (const std::string address = loaded->GetString(config::key::kMetricsAddress);
      !address.empty()) {
    if (absl::Status s = queue->OnEvent(metrics.Listener()); !s.ok()) {
      return Failure("worker: metrics", s);
    }
    server::HttpOptions http;
    const size_t colon = address.rfind(':');  // HOST:PORT, checked at load
    http.host = address.substr(0, colon);
    http.port = std::stoi(address.substr(colon + 1));
    http.metrics = &metrics;
    http.probes_only = true;
    http.threads = 2;
    http.tls = config::TlsFilesOf(*loaded);
    const server::AccessOptions access = config::AccessOptionsOf(*loaded);
    http.token = access.legacy_token;
    http.tokens = access.tokens;
    http.public_reads = access.public_reads;
    auto started = server::HttpServer::Start(queue.get(), http);
    if (!started.ok()) return Failure("worker: --metrics-address", started.status());
    endpoint = std::move(*started);
    std::fprintf(stderr, "popqueue: worker endpoint (/metrics, /healthz, /readyz) on %s:%d\n",
                 http.host.c_str(), endpoint->port());
  }

  const WorkerOptions& w = queue->config().worker;
  std::vector<std::string> queues =
      w.queues.empty() ? std::vector<std::string>{kDefaultQueue} : w.queues;
  std::fprintf(stderr,
               "popqueue: worker %s working queues %s (concurrency %d); "
               "SIGINT/SIGTERM stops it gracefully\n",
               queue->worker_id().c_str(), absl::StrJoin(queues, ",").c_str(),
               w.default_concurrency);
  if (std::string limits = DescribeLimits(*loaded); !limits.empty()) {
    std::fprintf(stderr, "popqueue: worker limits: %s\n", limits.c_str());
  }
  absl::Status run = queue->Start();
  if (endpoint != nullptr) endpoint->Stop();
  (*notifications)->Stop();
  if (!run.ok()) return Failure("worker", run);
  std::fprintf(stderr, "popqueue: worker %s stopped\n", queue->worker_id().c_str());
  return kExitOk;
}

}  // namespace popqueue::cli
