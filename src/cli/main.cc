// The popqueue command: finds the subcommand and hands it its arguments.
// Connection flags given before the subcommand (`popqueue --db-url X jobs`)
// are passed on to it; the subcommand's own flags win over them.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/common.h"

#ifndef POPQUEUE_VERSION
#define POPQUEUE_VERSION "dev"
#endif

namespace popqueue::cli {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(const Args&);
};

constexpr Command kCommands[] = {
    {"enqueue", "add a job", RunEnqueue},
    {"jobs", "list jobs (filter by state, name, queue, identifier)", RunJobs},
    {"job", "show one job with its errors", RunJob},
    {"workflow", "show a workflow's jobs, their states and dependencies", RunWorkflow},
    {"batch", "show a batch's progress (its jobs by state)", RunBatch},
    {"requeue",
     "move a dead, cancelled, completed or retryable job back to "
     "available",
     RunRequeue},
    {"cancel", "cancel a job (a running one is asked to stop)", RunCancel},
    {"delete", "delete a job that is not running", RunDelete},
    {"pause", "stop workers from fetching a queue's jobs", RunPause},
    {"resume", "let workers fetch a paused queue's jobs again", RunResume},
    {"stats", "job counts by queue and state; paused queues", RunStats},
    {"workers", "list registered workers", RunWorkers},
    {"schedules", "list the configured cron schedules and their next fire times", RunSchedules},
    {"migrate", "open the job store, creating or upgrading its schema", RunMigrate},
    {"worker", "run workers until SIGINT/SIGTERM (--demo: a guided tour)", RunWorker},
    {"serve", "serve the REST API, dashboard, gRPC and /metrics (--demo: live demo)", RunServe},
    {"config", "config check: print the effective configuration and its sources", RunConfig},
};

constexpr std::string_view kConnectionFlags[] = {"config", "db-url", "cache-url", "db-name",
                                                 "collection"};

void PrintTopHelp(std::FILE* out) {
  std::string text =
      "Usage: popqueue <command> [arguments] [flags]\n\n"
      "pop-queue: a durable, distributed background-job queue.\n\n"
      "Commands:\n";
  for (const Command& c : kCommands) {
    absl::StrAppendFormat(&text, "  %-9s %s\n", c.name, c.summary);
  }
  text +=
      "\nConnection flags (accepted by every command, before or after it):\n"
      "  --config FILE      config.json to read (env POPQUEUE_CONFIG; default "
      "./config.json)\n"
      "  --db-url URL       job store (env DB_URL; default "
      "sqlite://./popqueue.db)\n"
      "  --cache-url URL    redis:// or memcached:// coordinator (env "
      "REDIS_URL, MEMCACHED_URL)\n"
      "  --db-name NAME     database name (default popqueue)\n"
      "  --collection NAME  table / collection / key prefix (default jobs)\n"
      "Precedence: flags > environment > config.json > defaults; see them "
      "with\n'popqueue config check'.\n"
      "\nRun 'popqueue <command> --help' for a command's flags.\n"
      "Exit status: 0 success, 1 the operation failed, 2 usage error.\n"
      "Try: popqueue worker --demo --demo-exit-when-done\n";
  std::fputs(text.c_str(), out);
}

int TopUsageError(std::string_view message) {
  std::fprintf(stderr,
               "popqueue: %.*s\nRun 'popqueue --help' for the list of "
               "commands.\n",
               static_cast<int>(message.size()), message.data());
  return kExitUsage;
}

bool IsConnectionFlag(std::string_view name) {
  for (std::string_view f : kConnectionFlags) {
    if (f == name) return true;
  }
  return false;
}

int Main(const Args& argv) {
  Args global;  // connection flags seen before the command
  size_t i = 0;
  for (; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      PrintTopHelp(stdout);
      return kExitOk;
    }
    if (arg == "--version") {
      std::printf("popqueue %s\n", POPQUEUE_VERSION);
      return kExitOk;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") break;
    std::string_view name = std::string_view(arg).substr(2);
    bool has_inline = name.find('=') != std::string_view::npos;
    name = name.substr(0, name.find('='));
    if (!IsConnectionFlag(name)) {
      return TopUsageError(
          absl::StrFormat("unknown flag --%s before the command (only connection flags may "
                          "come first)",
                          name));
    }
    global.push_back(arg);
    if (!has_inline) {
      if (i + 1 >= argv.size()) {
        return TopUsageError(absl::StrFormat("flag --%s needs a value", name));
      }
      global.push_back(argv[++i]);
    }
  }
  if (i >= argv.size()) {
    PrintTopHelp(stderr);
    return kExitUsage;
  }
  std::string name = argv[i];
  Args rest = global;
  rest.insert(rest.end(), argv.begin() + static_cast<long>(i) + 1, argv.end());
  if (name == "help") {
    if (rest.empty()) {
      PrintTopHelp(stdout);
      return kExitOk;
    }
    name = rest[0];
    rest = {"--help"};
  }
  for (const Command& c : kCommands) {
    if (c.name == name) return c.run(rest);
  }
  return TopUsageError(absl::StrFormat("unknown command \"%s\"", Printable(name, 40)));
}

}  // namespace
}  // namespace popqueue::cli

int main(int argc, char** argv) {
  popqueue::cli::Args args(argv + 1, argv + argc);
  int code = popqueue::cli::Main(args);
  std::fflush(stdout);
  return code;
}
