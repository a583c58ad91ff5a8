#include "store/mongodb/job_doc.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/job_json.h"
#include "store/workflow.h"

namespace popqueue::store::mongodb {

std::string StateStr(JobState state) { return std::string(JobStateName(state)); }

std::string JobKey(JobId id) { return absl::StrFormat("%d", id); }

std::string LeaseKey(int64_t lease_token) { return absl::StrFormat("%d", lease_token); }

std::string ReadyKey(const std::string& queue, int priority) {
  // Injective: the priority after the last '|' is a plain number.
  return absl::StrFormat("%s|%d", queue, priority);
}

Doc ById(JobId id) {
  Doc f;
  f.Int64("_id", id).Str("key", JobKey(id));
  return f;
}

Doc NewJobDoc(const NewJob& job, JobState state, absl::Time now) {
  Doc doc;
  doc.Int64("_id", job.id)
      .Str("key", JobKey(job.id))
      .Str("queue", job.queue)
      .Str("name", job.name)
      .Str("identifier", job.identifier)
      .Str("data", job.data)
      .Int32("priority", job.priority)
      .Str("state", JobStateName(state))
      .Int32("attempt", 0)
      .Int32("max_attempts", job.max_attempts)
      .Time("run_at", job.run_at)
      .Time("created_at", now)
      .Str("worker_id", "")
      .Int64("lease_token", 0)
      .Int32("progress", 0)
      .Int64("timeout_us", absl::ToInt64Microseconds(job.timeout))
      .Int64("backoff_base_us", absl::ToInt64Microseconds(job.backoff_base))
      .Bool("cancel_requested", false)
      .Int64("claim_seq", 0);
  Doc errors;
  bson_append_array(doc.get(), "errors", -1, errors.get());
  if (!job.identifier.empty()) doc.Str("unique_key", job.identifier);
  // The JSON text, not a sub-document: metadata keys may hold '.', which
  // MongoDB field names do not take everywhere. None: no field.
  if (!job.metadata.empty()) doc.Str("meta", job.metadata);
  if (state == JobState::kAvailable) {
    doc.Str("ready", ReadyKey(job.queue, job.priority));
  } else {
    doc.Str("wait", job.queue);
  }
  return doc;
}

absl::StatusOr<JobState> ReadState(const bson_t* doc) {
  std::optional<std::string> name = GetStr(doc, "state");
  absl::StatusOr<JobState> state =
      ParseJobState(name ? std::string_view(*name) : std::string_view());
  if (!state.ok()) {
    return absl::InternalError(absl::StrFormat("corrupt job document %d: %s",
                                               GetInt64(doc, "_id").value_or(0),
                                               std::string(state.status().message())));
  }
  return state;
}

namespace {

std::vector<JobError> ReadErrors(const bson_iter_t* array) {
  std::vector<JobError> out;
  bson_iter_t items;
  if (!BSON_ITER_HOLDS_ARRAY(array) || !bson_iter_recurse(array, &items)) {
    return out;
  }
  while (bson_iter_next(&items)) {
    bson_iter_t f;
    if (!BSON_ITER_HOLDS_DOCUMENT(&items) || !bson_iter_recurse(&items, &f)) {
      continue;
    }
    JobError e;
    while (bson_iter_next(&f)) {
      std::string_view key = bson_iter_key(&f);
      if (key == "attempt") e.attempt = static_cast<int>(IterInt64(&f));
      if (key == "at") e.at = absl::FromUnixMillis(IterInt64(&f));
      if (key == "message") e.message = IterStr(&f);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

absl::StatusOr<Job> ReadJob(const bson_t* doc) {
  Job job;
  bool has_id = false;
  bson_iter_t it;
  if (!bson_iter_init(&it, doc)) {
    return absl::InternalError("corrupt job document");
  }
  auto time_of = [](const bson_iter_t* i) { return absl::FromUnixMicros(IterInt64(i)); };
  while (bson_iter_next(&it)) {
    const std::string_view key = bson_iter_key(&it);
    if (BSON_ITER_HOLDS_NULL(&it)) continue;
    if (key == "_id") {
      job.id = IterInt64(&it);
      has_id = true;
    } else if (key == "queue") {
      job.queue = IterStr(&it);
    } else if (key == "name") {
      job.name = IterStr(&it);
    } else if (key == "identifier") {
      job.identifier = IterStr(&it);
    } else if (key == "data") {
      job.data = IterStr(&it);
    } else if (key == "priority") {
      job.priority = static_cast<int>(IterInt64(&it));
    } else if (key == "state") {
      absl::StatusOr<JobState> state = ParseJobState(IterStr(&it));
      if (!state.ok()) {
        return absl::InternalError(
            absl::StrFormat("corrupt job document: %s", std::string(state.status().message())));
      }
      job.state = *state;
    } else if (key == "attempt") {
      job.attempt = static_cast<int>(IterInt64(&it));
    } else if (key == "max_attempts") {
      job.max_attempts = static_cast<int>(IterInt64(&it));
    } else if (key == "run_at") {
      job.run_at = time_of(&it);
    } else if (key == "created_at") {
      job.created_at = time_of(&it);
    } else if (key == "picked_at") {
      job.picked_at = time_of(&it);
    } else if (key == "finished_at") {
      job.finished_at = time_of(&it);
    } else if (key == "worker_id") {
      job.worker_id = IterStr(&it);
    } else if (key == "lease_token") {
      job.lease_token = IterInt64(&it);
    } else if (key == "lease_expires_at") {
      job.lease_expires_at = time_of(&it);
    } else if (key == "errors") {
      job.errors = ReadErrors(&it);
    } else if (key == "result") {
      job.result = IterStr(&it);
    } else if (key == "progress") {
      job.progress = static_cast<int>(IterInt64(&it));
    } else if (key == "timeout_us") {
      job.timeout = absl::Microseconds(IterInt64(&it));
    } else if (key == "backoff_base_us") {
      job.backoff_base = absl::Microseconds(IterInt64(&it));
    } else if (key == "cancel_requested") {
      job.cancel_requested = bson_iter_as_bool(&it);
    } else if (key == "stop_reason") {
      if (!job.stopping) job.stopping.emplace();
      job.stopping->reason = IterStr(&it);
    } else if (key == "stopping_since") {
      if (!job.stopping) job.stopping.emplace();
      job.stopping->since = time_of(&it);
    } else if (key == "stop_overdue") {
      if (!job.stopping) job.stopping.emplace();
      job.stopping->overdue = bson_iter_as_bool(&it);
    } else if (key == "wf") {
      job.workflow_id = IterInt64(&it);
    } else if (key == "par" || key == "dep") {
      absl::StatusOr<std::vector<JobEdge>> edges = DecodeEdges(IterStr(&it));
      if (!edges.ok()) return edges.status();
      (key == "par" ? job.parents : job.dependants) = *std::move(edges);
    } else if (key == "waiting") {
      job.waiting_parents = static_cast<int>(IterInt64(&it));
    } else if (key == "meta") {
      absl::StatusOr<JobMetadata> metadata = DecodeMetadata(IterStr(&it));
      if (!metadata.ok()) return metadata.status();
      job.metadata = *std::move(metadata);
    }
  }
  if (!has_id) return absl::InternalError("corrupt job document: no _id");
  return job;
}

}  // namespace popqueue::store::mongodb
