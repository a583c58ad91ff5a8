#include "store/redis/job_hash.h"

#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/job_json.h"
#include "nlohmann/json.hpp"
#include "store/workflow.h"

namespace popqueue::store::redis_store {
namespace {

using FieldMap = std::map<std::string, std::string, std::less<>>;

absl::StatusOr<FieldMap> ToMap(const redis::Reply& reply) {
  if (reply.type != redis::Reply::Type::kArray || reply.elements.size() % 2 != 0) {
    return absl::InternalError("expected a field/value array from HGETALL");
  }
  FieldMap m;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    m.emplace(reply.elements[i].str, reply.elements[i + 1].str);
  }
  return m;
}

absl::Status Bad(std::string_view field, std::string_view value) {
  return absl::InternalError(absl::StrCat("malformed job hash in Redis: field \"",
                                          std::string(field), "\" = \"",
                                          std::string(value.substr(0, 64)), "\""));
}

// Reads an integer field; absent or "" -> `fallback`.
template <typename T>
absl::Status Int(const FieldMap& m, std::string_view field, T* out, T fallback = 0) {
  auto it = m.find(field);
  if (it == m.end() || it->second.empty()) {
    *out = fallback;
    return absl::OkStatus();
  }
  if (!absl::SimpleAtoi(it->second, out)) return Bad(field, it->second);
  return absl::OkStatus();
}

absl::Status OptTime(const FieldMap& m, std::string_view field, std::optional<absl::Time>* out) {
  auto it = m.find(field);
  if (it == m.end() || it->second.empty()) {
    out->reset();
    return absl::OkStatus();
  }
  absl::StatusOr<absl::Time> t = ParseMicros(it->second);
  if (!t.ok()) return Bad(field, it->second);
  *out = *t;
  return absl::OkStatus();
}

std::string Str(const FieldMap& m, std::string_view field) {
  auto it = m.find(field);
  return it == m.end() ? "" : it->second;
}

}  // namespace

std::string IdKey(JobId id) { return absl::StrFormat("%019d", id); }

absl::StatusOr<JobId> ParseId(std::string_view text) {
  JobId id = 0;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &id)) {
    return absl::InternalError(
        absl::StrCat("malformed job id in Redis: \"", std::string(text), "\""));
  }
  return id;
}

std::string Micros(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }
std::string Micros(absl::Duration d) { return absl::StrCat(absl::ToInt64Microseconds(d)); }

absl::StatusOr<absl::Time> ParseMicros(std::string_view text) {
  int64_t us = 0;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &us)) {
    return absl::InternalError(
        absl::StrCat("malformed time in Redis: \"", std::string(text), "\""));
  }
  return absl::FromUnixMicros(us);
}

absl::StatusOr<Job> JobFromHash(const redis::Reply& reply) {
  absl::StatusOr<FieldMap> fields = ToMap(reply);
  if (!fields.ok()) return fields.status();
  const FieldMap& m = *fields;
  if (m.empty()) return absl::NotFoundError("job hash is empty");
  Job job;
  absl::StatusOr<JobId> id = ParseId(Str(m, "id"));
  if (!id.ok()) return id.status();
  job.id = *id;
  job.queue = Str(m, "queue");
  job.name = Str(m, "name");
  job.identifier = Str(m, "identifier");
  job.data = Str(m, "data");
  absl::StatusOr<JobState> state = ParseJobState(Str(m, "state"));
  if (!state.ok()) return Bad("state", Str(m, "state"));
  job.state = *state;
  int64_t run_at = 0, created_at = 0, timeout = 0, backoff = 0, err_n = 0;
  for (absl::Status s :
       {Int(m, "priority", &job.priority), Int(m, "attempt", &job.attempt),
        Int(m, "max_attempts", &job.max_attempts), Int(m, "run_at", &run_at),
        Int(m, "created_at", &created_at), Int(m, "progress", &job.progress),
        Int(m, "timeout", &timeout), Int(m, "backoff", &backoff), Int(m, "err_n", &err_n),
        Int(m, "lease_token", &job.lease_token), OptTime(m, "picked_at", &job.picked_at),
        OptTime(m, "finished_at", &job.finished_at),
        OptTime(m, "lease_expires_at", &job.lease_expires_at)}) {
    if (!s.ok()) return s;
  }
  job.run_at = absl::FromUnixMicros(run_at);
  job.created_at = absl::FromUnixMicros(created_at);
  job.timeout = absl::Microseconds(timeout);
  job.backoff_base = absl::Microseconds(backoff);
  job.worker_id = Str(m, "worker_id");
  job.cancel_requested = Str(m, "cancel") == "1";
  if (auto it = m.find("stop_reason"); it != m.end()) {
    std::optional<absl::Time> since;
    if (absl::Status s = OptTime(m, "stopping_since", &since); !s.ok()) return s;
    job.stopping = JobStopping{.reason = it->second,
                               .since = since.value_or(absl::UnixEpoch()),
                               .overdue = Str(m, "stop_overdue") == "1"};
  }
  if (auto it = m.find("result"); it != m.end()) job.result = it->second;
  if (absl::Status s = Int(m, "wf", &job.workflow_id); !s.ok()) return s;
  if (absl::Status s = Int(m, "wait", &job.waiting_parents); !s.ok()) return s;
  absl::StatusOr<std::vector<JobEdge>> parents = DecodeEdges(Str(m, "par"));
  if (!parents.ok()) return parents.status();
  job.parents = *std::move(parents);
  absl::StatusOr<std::vector<JobEdge>> dependants = DecodeEdges(Str(m, "dep"));
  if (!dependants.ok()) return dependants.status();
  job.dependants = *std::move(dependants);
  if (auto it = m.find("meta"); it != m.end()) {
    absl::StatusOr<JobMetadata> metadata = DecodeMetadata(it->second);
    if (!metadata.ok()) return Bad("meta", it->second);
    job.metadata = *std::move(metadata);
  }
  for (int64_t i = 1; i <= err_n; ++i) {
    const std::string field = absl::StrCat("err:", i);
    const std::string raw = Str(m, field);
    // "<attempt>\n<at us>\n<message>": the message may hold newlines.
    size_t a = raw.find('\n');
    size_t b = a == std::string::npos ? a : raw.find('\n', a + 1);
    if (b == std::string::npos) return Bad(field, raw);
    JobError e;
    int64_t at = 0;
    if (!absl::SimpleAtoi(raw.substr(0, a), &e.attempt) ||
        !absl::SimpleAtoi(raw.substr(a + 1, b - a - 1), &at)) {
      return Bad(field, raw);
    }
    e.at = absl::FromUnixMicros(at);
    e.message = raw.substr(b + 1);
    job.errors.push_back(std::move(e));
  }
  return job;
}

absl::StatusOr<WorkerInfo> WorkerFromHash(const redis::Reply& reply) {
  absl::StatusOr<FieldMap> fields = ToMap(reply);
  if (!fields.ok()) return fields.status();
  const FieldMap& m = *fields;
  WorkerInfo w;
  w.id = Str(m, "id");
  w.host = Str(m, "host");
  w.address = Str(m, "address");  // absent on hashes written before it
  int64_t started = 0, beat = 0;
  for (absl::Status s : {Int(m, "pid", &w.pid), Int(m, "started_at", &started),
                         Int(m, "last_heartbeat_at", &beat), Int(m, "running", &w.running)}) {
    if (!s.ok()) return s;
  }
  w.started_at = absl::FromUnixMicros(started);
  w.last_heartbeat_at = absl::FromUnixMicros(beat);
  nlohmann::json queues =
      nlohmann::json::parse(Str(m, "queues"), nullptr, /*allow_exceptions=*/false);
  if (queues.is_array()) {
    for (const auto& q : queues) {
      if (q.is_string()) w.queues.push_back(q.get<std::string>());
    }
  }
  return w;
}

}  // namespace popqueue::store::redis_store
