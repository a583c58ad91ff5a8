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

namespace popqueue::cli {

int RunWorker(const Args& args) {
  FlagSet flags(
      "worker", "[flags]",
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
  flags.AddValue("queues", "A,B", "queues to work (default \"default\")");
  flags.AddValue("concurrency", "N",
                 "jobs run at once per queue, 1..10000 (default 10)");
  flags.AddValue("worker-id", "ID",
                 "this worker's id (env WORKER_ID; default host-pid-random)");
  flags.AddValue("job-timeout", "DURATION",
                 "default handler time limit (env WORKER_TIMEOUT in ms; "
                 "default 5m)");
  flags.AddValue("exec", "NAME=COMMAND",
                 "handle jobs named NAME with a shell command (repeatable)",
                 /*repeatable=*/true);
  flags.AddBool("demo", "run the demo: sample jobs and handlers");
  flags.AddBool("demo-exit-when-done",
                "with --demo: exit once every demo job is final, after a "
                "summary");
  flags.AddValue("demo-timeout", "DURATION",
                 "with --demo-exit-when-done: fail (exit 1) if not done by "
                 "then (default 2m)");
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  QueueConfig config = ConnectionConfig(flags);
  WorkerOptions& worker = config.worker;
  if (std::optional<std::string> queues = flags.Get("queues")) {
    worker.queues = SplitList(*queues);
    if (worker.queues.empty()) {
      return UsageError(flags,
                        "invalid value for --queues: expected queue "
                        "names separated by commas");
    }
  }
  absl::StatusOr<std::optional<int64_t>> concurrency =
      flags.GetInt("concurrency", 1, 10000);
  if (!concurrency.ok()) {
    return UsageError(flags, std::string(concurrency.status().message()));
  }
  if (*concurrency)
    worker.default_concurrency = static_cast<int>(**concurrency);
  if (std::optional<std::string> id = flags.Get("worker-id")) {
    worker.worker_id = *id;
  } else if (const char* env = std::getenv("WORKER_ID"); env && *env) {
    worker.worker_id = env;
  }
  absl::StatusOr<std::optional<absl::Duration>> job_timeout =
      flags.GetDuration("job-timeout");
  if (!job_timeout.ok()) {
    return UsageError(flags, std::string(job_timeout.status().message()));
  }
  if (*job_timeout) {
    worker.default_timeout = **job_timeout;
  } else if (const char* env = std::getenv("WORKER_TIMEOUT"); env && *env) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(env, &ms) || ms <= 0) {
      return UsageError(
          flags, absl::StrFormat("invalid WORKER_TIMEOUT \"%s\": expected "
                                 "a positive number of milliseconds",
                                 env));
    }
    worker.default_timeout = absl::Milliseconds(ms);
  }
  if (*job_timeout && **job_timeout <= absl::ZeroDuration()) {
    return UsageError(flags,
                      "invalid value for --job-timeout: expected a "
                      "positive duration such as 30s");
  }

  std::vector<std::pair<std::string, std::string>> execs;
  for (const std::string& spec : flags.GetAll("exec")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return UsageError(
          flags, absl::StrFormat("invalid value \"%s\" for --exec: expected "
                                 "NAME=COMMAND, e.g. email='./send.sh'",
                                 Printable(spec, 60)));
    }
    execs.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }

  const bool demo = flags.GetBool("demo");
  DemoOptions demo_options;
  demo_options.exit_when_done = flags.GetBool("demo-exit-when-done");
  absl::StatusOr<std::optional<absl::Duration>> demo_timeout =
      flags.GetDuration("demo-timeout");
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
    return UsageError(
        flags,
        "no handlers: pass --exec NAME=COMMAND (repeatable) or --demo "
        "(C++ programs define handlers with popqueue::Queue::Define)");
  }
  if (demo) ConfigureDemo(config);

  // A command that exits before reading its stdin must not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  int exit_code = kExitOk;
  std::unique_ptr<Queue> queue =
      OpenQueueOrReport(flags, std::move(config), &exit_code);
  if (queue == nullptr) return exit_code;
  for (auto& [name, command] : execs) {
    if (absl::Status s = queue->Define(name, ExecHandler(command)); !s.ok()) {
      return Failure(absl::StrFormat("worker: --exec %s", Printable(name, 60)),
                     s);
    }
  }
  if (demo) return RunDemo(*queue, demo_options);

  const WorkerOptions& w = queue->config().worker;
  std::vector<std::string> queues =
      w.queues.empty() ? std::vector<std::string>{kDefaultQueue} : w.queues;
  std::fprintf(stderr,
               "popqueue: worker %s working queues %s (concurrency %d); "
               "SIGINT/SIGTERM stops it gracefully\n",
               queue->worker_id().c_str(), absl::StrJoin(queues, ",").c_str(),
               w.default_concurrency);
  absl::Status run = queue->Start();
  if (!run.ok()) return Failure("worker", run);
  std::fprintf(stderr, "popqueue: worker %s stopped\n",
               queue->worker_id().c_str());
  return kExitOk;
}

}  // namespace popqueue::cli
