#include "common/job_json.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/field_error.h"

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

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF), as JSON text needs.
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool IsMetadataKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || c == '/';
}

}  // namespace

std::string EncodeMetadata(const JobMetadata& metadata) {
  if (metadata.empty()) return "";
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metadata) j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<JobMetadata> DecodeMetadata(std::string_view stored) {
  JobMetadata out;
  if (stored.empty()) return out;
  nlohmann::json parsed = nlohmann::json::parse(stored, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InternalError("corrupt metadata: not a JSON object");
  }
  for (const auto& [k, v] : parsed.items()) {
    if (!v.is_string()) return absl::InternalError("corrupt metadata: a value is not a string");
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

absl::Status ValidateMetadata(const JobMetadata& metadata) {
  if (metadata.size() > kMaxMetadataEntries) {
    return FieldError("metadata", absl::StrFormat("at most %d entries, got %d", kMaxMetadataEntries,
                                                  metadata.size()));
  }
  size_t bytes = 0;
  for (const auto& [k, v] : metadata) {
    if (k.empty() || k.size() > kMaxMetadataKeyBytes) {
      return FieldError("metadata",
                        absl::StrFormat("keys must be 1-%d bytes, got \"%s\"", kMaxMetadataKeyBytes,
                                        absl::CHexEscape(k.substr(0, kMaxMetadataKeyBytes))));
    }
    for (char c : k) {
      if (!IsMetadataKeyChar(c)) {
        return FieldError("metadata",
                          absl::StrFormat("key \"%s\": only letters, digits and _ - . : / are "
                                          "allowed",
                                          absl::CHexEscape(k)));
      }
    }
    if (v.find('\0') != std::string::npos || !IsUtf8(v)) {
      return FieldError("metadata." + k, "must be UTF-8 text without NUL bytes");
    }
    bytes += k.size() + v.size();
  }
  if (bytes > kMaxMetadataBytes) {
    return FieldError("metadata",
                      absl::StrFormat("%d bytes of keys and values exceed the limit of %d bytes",
                                      bytes, kMaxMetadataBytes));
  }
  return absl::OkStatus();
}

nlohmann::json MetadataToJson(const JobMetadata& metadata) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metadata) j[k] = v;
  return j;
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
      {"metadata", MetadataToJson(job.metadata)},
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
