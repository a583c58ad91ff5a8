// Commands that change jobs or queues: requeue, cancel, delete, pause,
// resume; and migrate, which opens (and so migrates) the store.
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/job_json.h"
#include "common/url.h"

namespace popqueue::cli {
namespace {

using QueueOp = absl::Status (Queue::*)(std::string_view);

int RunQueueOp(const Args& args, const char* command, const char* description, QueueOp op,
               const char* done) {
  FlagSet flags(command, "<queue> [flags]", description);
  AddConnectionFlags(flags);
  if (std::optional<int> exit = ParseArgs(flags, args, 1, 1)) return *exit;
  const std::string& name = flags.positional()[0];
  if (name.empty()) return UsageError(flags, "<queue> must not be empty");
  int exit_code = kExitOk;
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, &exit_code);
  if (queue == nullptr) return exit_code;
  if (absl::Status s = ((*queue).*op)(name); !s.ok()) {
    return Failure(absl::StrFormat("%s %s", command, Printable(name, 60)), s);
  }
  std::printf("%s queue %s\n", done, Printable(name).c_str());
  return kExitOk;
}

}  // namespace

int RunRequeue(const Args& args) {
  FlagSet flags("requeue", "<id> [flags]",
                "Moves a dead, cancelled, completed or retryable job back to "
                "available with a\nfresh attempt budget. Fails (exit 1) for "
                "scheduled, available or running jobs.");
  flags.AddBool("json", "print the requeued job as JSON");
  int exit_code = kExitOk;
  std::optional<IdCommand> cmd = ParseIdCommand(flags, args, &exit_code);
  if (!cmd) return exit_code;
  absl::StatusOr<Job> job = cmd->queue->Requeue(cmd->id);
  if (!job.ok()) {
    return JobFailure("requeue", cmd->id, job.status());
  }
  if (flags.GetBool("json")) {
    PrintJson(JobToJson(*job));
  } else {
    std::printf("requeued job %lld: now %s\n", static_cast<long long>(job->id),
                std::string(JobStateName(job->state)).c_str());
  }
  return kExitOk;
}

int RunCancel(const Args& args) {
  FlagSet flags("cancel", "<id> [flags]",
                "Cancels a scheduled, available or retryable job at once. A "
                "running job is\nasked to stop and ends cancelled when its "
                "handler returns. Fails (exit 1)\nfor finished jobs.");
  flags.AddBool("json", "print the job as JSON");
  int exit_code = kExitOk;
  std::optional<IdCommand> cmd = ParseIdCommand(flags, args, &exit_code);
  if (!cmd) return exit_code;
  absl::StatusOr<Job> job = cmd->queue->Cancel(cmd->id);
  if (!job.ok()) {
    return JobFailure("cancel", cmd->id, job.status());
  }
  if (flags.GetBool("json")) {
    PrintJson(JobToJson(*job));
  } else if (job->state == JobState::kCancelled) {
    std::printf("cancelled job %lld\n", static_cast<long long>(job->id));
  } else {
    std::printf(
        "job %lld is %s: asked it to stop; it ends cancelled when its "
        "handler returns\n",
        static_cast<long long>(job->id), std::string(JobStateName(job->state)).c_str());
  }
  return kExitOk;
}

int RunDelete(const Args& args) {
  FlagSet flags("delete", "<id> [flags]", "Deletes a job that is not running (cancel it first).");
  int exit_code = kExitOk;
  std::optional<IdCommand> cmd = ParseIdCommand(flags, args, &exit_code);
  if (!cmd) return exit_code;
  if (absl::Status s = cmd->queue->Delete(cmd->id); !s.ok()) {
    return JobFailure("delete", cmd->id, s);
  }
  std::printf("deleted job %lld\n", static_cast<long long>(cmd->id));
  return kExitOk;
}

int RunPause(const Args& args) {
  return RunQueueOp(args, "pause",
                    "Pauses a queue: workers stop fetching its jobs (running "
                    "jobs finish).\nJobs can still be enqueued.",
                    &Queue::PauseQueue, "paused");
}

int RunResume(const Args& args) {
  return RunQueueOp(args, "resume", "Resumes a paused queue: workers fetch its jobs again.",
                    &Queue::ResumeQueue, "resumed");
}

int RunMigrate(const Args& args) {
  FlagSet flags("migrate", "[flags]",
                "Opens the job store, which creates or upgrades its schema, and "
                "reports the result.\nSafe to run any number of times.");
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;
  int exit_code = kExitOk;
  std::optional<config::Config> loaded = LoadConfigOrReport(flags, &exit_code);
  if (!loaded) return exit_code;
  QueueConfig config = loaded->ToQueueConfig();
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, config, &exit_code);
  if (queue == nullptr) return exit_code;
  // Multi-host MongoDB URLs do not parse as one host: show the scheme only.
  absl::StatusOr<Url> url = ParseUrl(config.db_url);
  const std::string shown =
      url.ok() ? url->Redacted() : config.db_url.substr(0, config.db_url.find("://")) + "://...";
  std::printf(
      "store ready: %s (database %s, collection %s): schema is up to "
      "date\n",
      shown.c_str(), config.db_name.c_str(), config.collection.c_str());
  return kExitOk;
}

}  // namespace popqueue::cli
