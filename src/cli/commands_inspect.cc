// Read-only commands: jobs, job <id>, stats, workers.
#include <cstdio>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/job_json.h"
#include "config/schedules.h"

namespace popqueue::cli {
namespace {

std::string LastError(const Job& job) {
  if (job.errors.empty()) return "";
  return job.errors.back().message;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

int RunJobs(const Args& args) {
  FlagSet flags("jobs", "[flags]", "Lists jobs, newest first. Filters combine; each is optional.");
  flags.AddValue("state", "S[,S]",
                 "scheduled, available, running, retryable, completed, dead, "
                 "cancelled");
  flags.AddValue("name", "NAME", "only jobs for this handler");
  flags.AddValue("queue", "NAME", "only jobs on this queue");
  flags.AddValue("identifier", "ID", "only jobs with this identifier");
  flags.AddValue("limit", "N", "page size, 1..1000 (default 50)");
  flags.AddValue("before", "ID", "continue after this id (the previous page's nextBefore)");
  flags.AddBool("json", "print {\"jobs\": [...], \"nextBefore\": id|null}");
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  JobFilter filter;
  if (std::optional<std::string> states = flags.Get("state")) {
    for (const std::string& s : SplitList(*states)) {
      absl::StatusOr<JobState> state = ParseJobState(s);
      if (!state.ok()) {
        return UsageError(
            flags, absl::StrFormat("invalid value for --state: %s", state.status().message()));
      }
      filter.states.push_back(*state);
    }
  }
  filter.name = flags.Get("name").value_or("");
  filter.queue = flags.Get("queue").value_or("");
  filter.identifier = flags.Get("identifier").value_or("");
  absl::StatusOr<std::optional<int64_t>> limit = flags.GetInt("limit", 1, 1000);
  if (!limit.ok()) return UsageError(flags, std::string(limit.status().message()));
  if (*limit) filter.limit = static_cast<int>(**limit);
  if (std::optional<std::string> before = flags.Get("before")) {
    absl::StatusOr<int64_t> id = ParseJobId("--before", *before);
    if (!id.ok()) return UsageError(flags, std::string(id.status().message()));
    filter.before_id = *id;
  }

  int exit_code = kExitOk;
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, &exit_code);
  if (queue == nullptr) return exit_code;
  absl::StatusOr<JobPage> page = queue->ListJobs(filter);
  if (!page.ok()) return Failure("jobs", page.status());

  if (flags.GetBool("json")) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const Job& job : page->jobs) jobs.push_back(JobToJson(job));
    PrintJson({{"jobs", jobs},
               {"nextBefore", page->next_before_id
                                  ? nlohmann::json(absl::StrFormat("%d", *page->next_before_id))
                                  : nlohmann::json(nullptr)}});
    return kExitOk;
  }
  if (page->jobs.empty()) {
    std::printf("no jobs\n");
    return kExitOk;
  }
  Table table({"ID", "STATE", "QUEUE", "NAME", "IDENTIFIER", "ATTEMPT", "RUN_AT", "LAST_ERROR"});
  for (const Job& job : page->jobs) {
    table.AddRow({absl::StrFormat("%d", job.id), std::string(JobStateName(job.state)),
                  Printable(job.queue, 20), Printable(job.name, 30),
                  Printable(OrDash(job.identifier), 30),
                  absl::StrFormat("%d/%d", job.attempt, job.max_attempts), ShortTime(job.run_at),
                  Printable(OrDash(LastError(job)), 50)});
  }
  table.Print(stdout);
  if (page->next_before_id) {
    std::printf("(more: add --before %lld)\n", static_cast<long long>(*page->next_before_id));
  }
  return kExitOk;
}

int RunJob(const Args& args) {
  FlagSet flags("job", "<id> [flags]", "Shows every field of one job, including its errors.");
  flags.AddBool("json", "print the job as JSON");
  int exit_code = kExitOk;
  std::optional<IdCommand> cmd = ParseIdCommand(flags, args, &exit_code);
  if (!cmd) return exit_code;
  absl::StatusOr<Job> job = cmd->queue->GetJob(cmd->id);
  if (!job.ok()) return JobFailure("job", cmd->id, job.status());
  if (flags.GetBool("json")) {
    PrintJson(JobToJson(*job));
    return kExitOk;
  }
  constexpr size_t kMaxData = 4000;
  auto line = [](std::string_view key, const std::string& value) {
    std::printf("%-15s %s\n", std::string(key).c_str(), value.c_str());
  };
  line("id:", absl::StrFormat("%d", job->id));
  line("state:", std::string(JobStateName(job->state)) +
                     (job->cancel_requested && !IsFinal(job->state) ? " (cancel requested)" : ""));
  if (job->stopping && job->state == JobState::kRunning) {
    const std::string& r = job->stopping->reason;
    std::string why = r == "timeout"  ? "timed out"
                      : r == "cancel" ? "cancel requested"
                                      : Printable(r);
    line("stopping:",
         absl::StrFormat("%s since %s; %s", why, ShortTime(job->stopping->since),
                         job->stopping->overdue
                             ? "OVERDUE: the handler ignores the stop request (past the "
                               "stop grace); its slot stays busy"
                             : "waiting for the handler to return (the lease is held until then)"));
  }
  line("queue:", Printable(job->queue));
  line("name:", Printable(job->name));
  line("identifier:", Printable(OrDash(job->identifier)));
  line("priority:", absl::StrFormat("%d", job->priority));
  line("attempt:", absl::StrFormat("%d of %d", job->attempt, job->max_attempts));
  line("run at:", ShortTime(job->run_at));
  line("created at:", ShortTime(job->created_at));
  line("picked at:", ShortTime(job->picked_at));
  line("finished at:", ShortTime(job->finished_at));
  line("worker:", Printable(OrDash(job->worker_id)));
  line("lease expires:", ShortTime(job->lease_expires_at));
  line("progress:", absl::StrFormat("%d%%", job->progress));
  line("timeout:",
       job->timeout == absl::ZeroDuration() ? "queue default" : absl::FormatDuration(job->timeout));
  if (job->metadata.empty()) {
    line("metadata:", "-");
  } else {
    std::printf("metadata:\n");
    for (const auto& [key, value] : job->metadata) {
      std::printf("  %s = %s\n", Printable(key).c_str(), Printable(value, 2000).c_str());
    }
  }
  line("result:", job->result ? Printable(*job->result, kMaxData) : "-");
  std::string data = Printable(job->data, kMaxData);
  if (DisplayWidth(job->data) > kMaxData) data += " (cut; --json has it all)";
  line("data:", data);
  if (job->errors.empty()) {
    line("errors:", "none");
  } else {
    std::printf("errors:\n");
    for (const JobError& e : job->errors) {
      std::printf("  attempt %d at %s: %s\n", e.attempt, ShortTime(e.at).c_str(),
                  Printable(e.message, 2000).c_str());
    }
  }
  return kExitOk;
}

int RunStats(const Args& args) {
  FlagSet flags("stats", "[flags]",
                "Shows job counts by queue and state, and which queues are "
                "paused.");
  flags.AddBool("json",
                "print {\"counts\": {queue: {state: n}}, \"paused\": [queue], "
                "\"totals\": {state: n}}");
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  int exit_code = kExitOk;
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, &exit_code);
  if (queue == nullptr) return exit_code;
  absl::StatusOr<std::vector<QueueInfo>> queues = queue->ListQueues();
  if (!queues.ok()) return Failure("stats", queues.status());

  std::vector<QueueCounts> counts;
  std::vector<std::string> paused;
  std::map<JobState, int64_t> totals;
  for (const QueueInfo& q : *queues) {
    counts.push_back(QueueCounts{.queue = q.name, .by_state = q.counts});
    if (q.paused) paused.push_back(q.name);
    for (const auto& [state, n] : q.counts) totals[state] += n;
  }
  if (flags.GetBool("json")) {
    nlohmann::json total = nlohmann::json::object();
    for (JobState s : kAllJobStates) {
      total[std::string(JobStateName(s))] = totals[s];
    }
    PrintJson({{"counts", QueueCountsToJson(counts)}, {"paused", paused}, {"totals", total}});
    return kExitOk;
  }
  std::vector<std::string> header = {"QUEUE", "STATUS"};
  for (JobState s : kAllJobStates) {
    std::string name(JobStateName(s));
    for (char& c : name) c = static_cast<char>(std::toupper(c));
    header.push_back(name);
  }
  Table table(header);
  auto row = [](std::string name, std::string status, const std::map<JobState, int64_t>& by_state) {
    std::vector<std::string> r = {std::move(name), std::move(status)};
    for (JobState s : kAllJobStates) {
      auto it = by_state.find(s);
      r.push_back(absl::StrFormat("%d", it == by_state.end() ? 0 : it->second));
    }
    return r;
  };
  for (const QueueInfo& q : *queues) {
    table.AddRow(row(Printable(q.name, 30), q.paused ? "paused" : "active", q.counts));
  }
  if (queues->empty()) {
    std::printf("no queues yet\n");
    return kExitOk;
  }
  if (queues->size() > 1) table.AddRow(row("(all)", "", totals));
  table.Print(stdout);
  return kExitOk;
}

int RunWorkers(const Args& args) {
  FlagSet flags("workers", "[flags]",
                "Lists the workers in the registry (the coordinator's when "
                "--cache-url is set,\nthe store's otherwise).");
  flags.AddBool("json", "print {\"workers\": [...]}");
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  int exit_code = kExitOk;
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, &exit_code);
  if (queue == nullptr) return exit_code;
  absl::StatusOr<std::vector<WorkerInfo>> workers = queue->ListWorkers();
  if (!workers.ok()) return Failure("workers", workers.status());
  if (flags.GetBool("json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const WorkerInfo& w : *workers) list.push_back(WorkerToJson(w));
    PrintJson({{"workers", list}});
    return kExitOk;
  }
  if (workers->empty()) {
    std::printf("no workers registered\n");
    return kExitOk;
  }
  Table table({"ID", "HOST", "ADDRESS", "PID", "QUEUES", "RUNNING", "STARTED", "LAST_HEARTBEAT"});
  for (const WorkerInfo& w : *workers) {
    table.AddRow({Printable(w.id, 40), Printable(w.host, 30),
                  Printable(w.address.empty() ? "-" : w.address, 46), absl::StrFormat("%d", w.pid),
                  Printable(absl::StrJoin(w.queues, ","), 40), absl::StrFormat("%d", w.running),
                  ShortTime(w.started_at), ShortTime(w.last_heartbeat_at)});
  }
  table.Print(stdout);
  return kExitOk;
}

int RunSchedules(const Args& args) {
  FlagSet flags("schedules", "[flags]",
                "Lists the cron schedules of the configuration (config.json's \"schedules\",\n"
                "env POPQUEUE_SCHEDULES) with their next fire times, as `popqueue serve` and\n"
                "`popqueue worker` run them. GET /api/schedules lists a running server's.");
  flags.AddBool("json", "print {\"schedules\": [...]}");
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 0, 0)) return *done;

  int exit_code = kExitOk;
  std::optional<config::Config> loaded = LoadConfigOrReport(flags, &exit_code);
  if (!loaded) return exit_code;
  std::unique_ptr<Queue> queue = OpenQueueOrReport(flags, loaded->ToQueueConfig(), &exit_code);
  if (queue == nullptr) return exit_code;
  if (absl::Status s = config::DefineSchedules(config::SchedulesOf(*loaded), *queue); !s.ok()) {
    return Failure("schedules", s);
  }
  std::vector<ScheduleInfo> schedules = queue->Schedules();
  if (flags.GetBool("json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const ScheduleInfo& s : schedules) list.push_back(ScheduleToJson(s));
    PrintJson({{"schedules", list}});
    return kExitOk;
  }
  if (schedules.empty()) {
    std::printf("no schedules configured (config.json \"schedules\", docs/configuration.md)\n");
    return kExitOk;
  }
  Table table({"ID", "JOB", "CRON", "ZONE", "QUEUE", "NEXT_FIRE"});
  for (const ScheduleInfo& s : schedules) {
    nlohmann::json j = ScheduleToJson(s);
    table.AddRow({Printable(s.id, 40), Printable(s.name, 30), Printable(s.expression, 30),
                  Printable(s.time_zone, 30), Printable(s.queue, 30),
                  j["nextFireLocal"].is_string() ? j["nextFireLocal"].get<std::string>() : "-"});
  }
  table.Print(stdout);
  return kExitOk;
}

}  // namespace popqueue::cli
