// popqueue enqueue <name>: adds one job.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/errno_text.h"

namespace popqueue::cli {
namespace {

FlagSet EnqueueFlags() {
  FlagSet flags("enqueue", "<name> [flags]",
                "Adds a job for the handler defined as <name> and prints its "
                "id.\nWith an --identifier that a scheduled, available, "
                "retryable or running job\nalready has, nothing is added: the "
                "existing job's id is printed and\n\"duplicate of existing "
                "job\" goes to stderr.");
  flags.AddValue("data", "TEXT", "payload (UTF-8 text, JSON by convention); \"-\" reads stdin");
  flags.AddValue("data-file", "PATH", "read the payload from a file");
  flags.AddValue("identifier", "ID", "unique key among unfinished jobs (default: none)");
  flags.AddValue("score", "TIME", "when the job is due: Unix seconds or RFC 3339 (default now)");
  flags.AddValue("delay", "DURATION",
                 "due after this long, e.g. 30s, 5m, 1h (exclusive with "
                 "--score)");
  flags.AddValue("priority", "N", "lower runs first (default 0)");
  flags.AddValue("queue", "NAME", "queue to run on (default \"default\")");
  flags.AddValue("max-attempts", "N", "attempts before the job is dead (default: retries + 1)");
  flags.AddValue("timeout", "DURATION", "handler time limit for this job");
  flags.AddValue("backoff", "DURATION", "delay before the first retry");
  flags.AddValue("meta", "KEY=VALUE",
                 "metadata carried with the job, e.g. traceparent=00-...-01 or tenant=acme "
                 "(repeatable)",
                 /*repeatable=*/true);
  flags.AddBool("json", "print {\"id\", \"inserted\", \"state\"} as JSON");
  AddConnectionFlags(flags);
  return flags;
}

// Reads all of `in`; false on a read error.
bool ReadAll(std::istream& in, std::string* out) {
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return !in.bad();
}

absl::StatusOr<absl::Time> ParseScore(const std::string& text) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(absl::string_view(text), &seconds)) {
    return absl::FromUnixSeconds(seconds);
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return t;
  return absl::InvalidArgumentError(
      absl::StrFormat("invalid value \"%s\" for --score: expected Unix seconds (e.g. "
                      "1767225600) or RFC 3339 (e.g. 2026-01-01T00:00:00Z)",
                      text));
}

}  // namespace

int RunEnqueue(const Args& args) {
  FlagSet flags = EnqueueFlags();
  if (std::optional<int> done = ParseArgs(flags, args, 1, 1)) return *done;
  const std::string& name = flags.positional()[0];
  if (name.empty()) return UsageError(flags, "<name> must not be empty");

  EnqueueOptions options;
  options.queue = flags.Get("queue").value_or("");
  options.identifier = flags.Get("identifier").value_or("");

  if (flags.Has("score") && flags.Has("delay")) {
    return UsageError(flags, "--score and --delay are exclusive; pass one");
  }
  if (std::optional<std::string> score = flags.Get("score")) {
    absl::StatusOr<absl::Time> t = ParseScore(*score);
    if (!t.ok()) return UsageError(flags, std::string(t.status().message()));
    options.run_at = *t;
  }
  auto delay = flags.GetDuration("delay");
  auto timeout = flags.GetDuration("timeout");
  auto backoff = flags.GetDuration("backoff");
  auto priority = flags.GetInt("priority", -1000000, 1000000);
  auto max_attempts = flags.GetInt("max-attempts", 1, 1000000);
  for (const absl::Status& s : {delay.status(), timeout.status(), backoff.status(),
                                priority.status(), max_attempts.status()}) {
    if (!s.ok()) return UsageError(flags, std::string(s.message()));
  }
  if (*delay) options.delay = **delay;
  if (*timeout) {
    if (**timeout <= absl::ZeroDuration()) {
      return UsageError(flags,
                        "invalid value for --timeout: expected a "
                        "positive duration such as 30s");
    }
    options.timeout = **timeout;
  }
  if (*backoff) options.backoff_base = **backoff;
  if (*priority) options.priority = static_cast<int>(**priority);
  if (*max_attempts) options.max_attempts = static_cast<int>(**max_attempts);

  for (const std::string& entry : flags.GetAll("meta")) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(flags,
                        absl::StrFormat("invalid value \"%s\" for --meta: expected KEY=VALUE",
                                        Printable(entry, 80)));
    }
    if (!options.metadata.emplace(entry.substr(0, eq), entry.substr(eq + 1)).second) {
      return UsageError(flags, absl::StrFormat("--meta %s given twice", entry.substr(0, eq)));
    }
  }
  if (flags.Has("data") && flags.Has("data-file")) {
    return UsageError(flags, "--data and --data-file are exclusive; pass one");
  }
  std::string data;
  if (std::optional<std::string> text = flags.Get("data")) {
    if (*text == "-") {
      if (!ReadAll(std::cin, &data)) {
        return Failure("enqueue", absl::UnavailableError("cannot read the payload from stdin"));
      }
    } else {
      data = *text;
    }
  } else if (std::optional<std::string> path = flags.Get("data-file")) {
    std::ifstream in(*path, std::ios::binary);
    if (!in || !ReadAll(in, &data)) {
      return Failure("enqueue", absl::NotFoundError(absl::StrFormat(
                                    "cannot read --data-file %s: %s", *path, ErrnoText(errno))));
    }
  }

  int exit_code = kExitOk;
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, &exit_code);
  if (queue == nullptr) return exit_code;
  absl::StatusOr<EnqueueResult> result = queue->Enqueue(name, std::move(data), options);
  if (!result.ok()) return Failure("enqueue", result.status());

  if (flags.GetBool("json")) {
    PrintJson({{"id", absl::StrFormat("%d", result->id)},
               {"inserted", result->inserted},
               {"state", std::string(JobStateName(result->state))}});
  } else {
    std::printf("%lld\n", static_cast<long long>(result->id));
  }
  if (!result->inserted) {
    std::fprintf(stderr,
                 "duplicate of existing job %lld (state %s, identifier "
                 "\"%s\"): nothing added\n",
                 static_cast<long long>(result->id),
                 std::string(JobStateName(result->state)).c_str(),
                 Printable(options.identifier, 80).c_str());
  }
  return kExitOk;
}

}  // namespace popqueue::cli
