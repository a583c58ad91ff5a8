#include "common/job_json.h"

#include "absl/strings/str_cat.h"

namespace popqueue {

std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<std::vector<JobError>> ErrorsFromStoredJson(std::string_view json) {
  std::vector<JobError> out;
  if (json.empty()) return out;
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array()) {
    return absl::InternalError("corrupt errors column: not a JSON array");
  }
  for (const nlohmann::json& e : parsed) {
    if (!e.is_object() || !e.contains("attempt") || !e.contains("at") || !e.contains("message") ||
        !e["attempt"].is_number_integer() || !e["at"].is_number_integer() ||
        !e["message"].is_string()) {
      return absl::InternalError("corrupt errors column: bad entry");
    }
    out.push_back(JobError{.attempt = e["attempt"].get<int>(),
                           .at = absl::FromUnixMillis(e["at"].get<int64_t>()),
                           .message = e["message"].get<std::string>()});
  }
  return out;
}

namespace {
nlohmann::json OptTime(const std::optional<absl::Time>& t) {
  return t ? nlohmann::json(FormatTimestamp(*t)) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json EdgesToJson(const std::vector<JobEdge>& edges) {
  nlohmann::json out = nlohmann::json::array();
  for (const JobEdge& e : edges) {
    out.push_back({{"id", absl::StrCat(e.id)}, {"ignoreFailure", e.ignore_failure}});
  }
  return out;
}

nlohmann::json JobToJson(const Job& job) {
  // The stop request describes the running attempt only (JobStopping).
  const bool running_stop = job.stopping && job.state == JobState::kRunning;
  nlohmann::json errors = nlohmann::json::array();
  for (const JobError& e : job.errors) {
    errors.push_back(
        {{"attempt", e.attempt}, {"at", FormatTimestamp(e.at)}, {"message", e.message}});
  }
  return {
      {"id", absl::StrCat(job.id)},
      {"queue", job.queue},
      {"name", job.name},
      {"identifier", job.identifier},
      {"data", job.data},
      {"priority", job.priority},
      {"state", std::string(JobStateName(job.state))},
      {"attempt", job.attempt},
      {"maxAttempts", job.max_attempts},
      {"runAt", FormatTimestamp(job.run_at)},
      {"createdAt", FormatTimestamp(job.created_at)},
      {"pickedAt", OptTime(job.picked_at)},
      {"finishedAt", OptTime(job.finished_at)},
      {"workerId", job.worker_id},
      {"leaseExpiresAt", OptTime(job.lease_expires_at)},
      {"errors", errors},
      {"result", job.result ? nlohmann::json(*job.result) : nlohmann::json(nullptr)},
      {"progress", job.progress},
      {"timeoutMs", absl::ToInt64Milliseconds(job.timeout)},
      {"cancelRequested", job.cancel_requested},
      {"timedOut", running_stop && job.stopping->reason == "timeout"},
      {"stopping", running_stop ? nlohmann::json{{"reason", job.stopping->reason},
                                                 {"since", FormatTimestamp(job.stopping->since)},
                                                 {"overdue", job.stopping->overdue}}
                                : nlohmann::json(nullptr)},
      {"workflowId", job.workflow_id != 0 ? nlohmann::json(absl::StrCat(job.workflow_id))
                                          : nlohmann::json(nullptr)},
      {"parents", EdgesToJson(job.parents)},
      {"dependants", EdgesToJson(job.dependants)},
      {"waitingParents", job.waiting_parents},
  };
}

std::string RequeuedMessage(const Job& job) {
  int left = job.max_attempts - job.attempt;
  return absl::StrCat("job ", job.id, " (", job.name,
                      ") requeued: ", std::string(JobStateName(job.state)), ", ", left,
                      left == 1 ? " attempt" : " attempts", " left");
}

nlohmann::json QueueCountsToJson(const std::vector<QueueCounts>& counts) {
  nlohmann::json out = nlohmann::json::object();
  for (const QueueCounts& q : counts) {
    nlohmann::json states = nlohmann::json::object();
    for (JobState s : kAllJobStates) {
      auto it = q.by_state.find(s);
      states[std::string(JobStateName(s))] = it == q.by_state.end() ? 0 : it->second;
    }
    out[q.queue] = states;
  }
  return out;
}

nlohmann::json ScheduleToJson(const ScheduleInfo& s) {
  nlohmann::json j = {
      {"id", s.id},           {"name", s.name},
      {"cron", s.expression}, {"timeZone", s.time_zone},
      {"queue", s.queue},     {"missed", s.missed == MissedFires::kRunOnce ? "runOnce" : "skip"},
      {"nextFire", nullptr},  {"nextFireLocal", nullptr}};
  if (s.next_fire) {
    j["nextFire"] = FormatTimestamp(*s.next_fire);
    absl::TimeZone zone;
    if (absl::LoadTimeZone(s.time_zone, &zone)) {
      j["nextFireLocal"] = absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", *s.next_fire, zone);
    }
  }
  return j;
}

nlohmann::json WorkerToJson(const WorkerInfo& w) {
  return {{"id", w.id},
          {"host", w.host},
          {"address", w.address},
          {"pid", w.pid},
          {"queues", w.queues},
          {"startedAt", FormatTimestamp(w.started_at)},
          {"lastHeartbeatAt", FormatTimestamp(w.last_heartbeat_at)},
          {"running", w.running}};
}

}  // namespace popqueue
