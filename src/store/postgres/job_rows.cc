#include "store/postgres/job_rows.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/job_json.h"
#include "store/workflow.h"

namespace popqueue::store::postgres {
namespace {

struct Columns {
  int id, queue, name, identifier, data, priority, state, attempt, max_attempts, run_at, created_at,
      picked_at, finished_at, worker_id, lease_token, lease_expires_at, errors, result, progress,
      timeout_us, backoff_base_us, cancel_requested, stop_reason, stopping_since, stop_overdue,
      workflow_id, parents, dependants, waiting, metadata;
};

absl::StatusOr<Columns> FindColumns(const PGresult* res) {
  Columns c;
  struct {
    int* field;
    const char* name;
  } fields[] = {
      {&c.id, "id"},
      {&c.queue, "queue"},
      {&c.name, "name"},
      {&c.identifier, "identifier"},
      {&c.data, "data"},
      {&c.priority, "priority"},
      {&c.state, "state"},
      {&c.attempt, "attempt"},
      {&c.max_attempts, "max_attempts"},
      {&c.run_at, "run_at"},
      {&c.created_at, "created_at"},
      {&c.picked_at, "picked_at"},
      {&c.finished_at, "finished_at"},
      {&c.worker_id, "worker_id"},
      {&c.lease_token, "lease_token"},
      {&c.lease_expires_at, "lease_expires_at"},
      {&c.errors, "errors"},
      {&c.result, "result"},
      {&c.progress, "progress"},
      {&c.timeout_us, "timeout_us"},
      {&c.backoff_base_us, "backoff_base_us"},
      {&c.cancel_requested, "cancel_requested"},
      {&c.stop_reason, "stop_reason"},
      {&c.stopping_since, "stopping_since"},
      {&c.stop_overdue, "stop_overdue"},
      {&c.workflow_id, "workflow_id"},
      {&c.parents, "parents"},
      {&c.dependants, "dependants"},
      {&c.waiting, "waiting"},
      {&c.metadata, "metadata"},
  };
  for (auto& f : fields) {
    *f.field = PQfnumber(res, f.name);
    if (*f.field < 0) {
      return absl::InternalError(absl::StrCat("job row without column \"", f.name, "\""));
    }
  }
  return c;
}

std::optional<absl::Time> OptTime(const PGresult* res, int row, int col) {
  if (IsNull(res, row, col)) return std::nullopt;
  return FromMicros(Int(res, row, col));
}

}  // namespace

absl::StatusOr<std::vector<Job>> JobsFromResult(const PGresult* res) {
  std::vector<Job> jobs;
  int rows = PQntuples(res);
  if (rows == 0) return jobs;
  absl::StatusOr<Columns> cols = FindColumns(res);
  if (!cols.ok()) return cols.status();
  const Columns& c = *cols;
  jobs.reserve(rows);
  for (int r = 0; r < rows; ++r) {
    Job j;
    j.id = Int(res, r, c.id);
    j.queue = std::string(Text(res, r, c.queue));
    j.name = std::string(Text(res, r, c.name));
    j.identifier = std::string(Text(res, r, c.identifier));
    j.data = std::string(Text(res, r, c.data));
    j.priority = static_cast<int>(Int(res, r, c.priority));
    absl::StatusOr<JobState> state = ParseJobState(Text(res, r, c.state));
    if (!state.ok()) {
      return absl::InternalError(
          absl::StrCat("job ", j.id, ": corrupt state: ", std::string(state.status().message())));
    }
    j.state = *state;
    j.attempt = static_cast<int>(Int(res, r, c.attempt));
    j.max_attempts = static_cast<int>(Int(res, r, c.max_attempts));
    j.run_at = FromMicros(Int(res, r, c.run_at));
    j.created_at = FromMicros(Int(res, r, c.created_at));
    j.picked_at = OptTime(res, r, c.picked_at);
    j.finished_at = OptTime(res, r, c.finished_at);
    j.worker_id = std::string(Text(res, r, c.worker_id));
    j.lease_token = Int(res, r, c.lease_token);
    j.lease_expires_at = OptTime(res, r, c.lease_expires_at);
    absl::StatusOr<std::vector<JobError>> errors = ErrorsFromStoredJson(Text(res, r, c.errors));
    if (!errors.ok()) {
      return absl::InternalError(
          absl::StrCat("job ", j.id, ": ", std::string(errors.status().message())));
    }
    j.errors = *std::move(errors);
    if (!IsNull(res, r, c.result)) j.result = std::string(Text(res, r, c.result));
    j.progress = static_cast<int>(Int(res, r, c.progress));
    j.timeout = absl::Microseconds(Int(res, r, c.timeout_us));
    j.backoff_base = absl::Microseconds(Int(res, r, c.backoff_base_us));
    j.cancel_requested = Bool(res, r, c.cancel_requested);
    if (!IsNull(res, r, c.stop_reason)) {
      j.stopping =
          JobStopping{.reason = std::string(Text(res, r, c.stop_reason)),
                      .since = OptTime(res, r, c.stopping_since).value_or(absl::UnixEpoch()),
                      .overdue = Bool(res, r, c.stop_overdue)};
    }
    if (!IsNull(res, r, c.workflow_id)) j.workflow_id = Int(res, r, c.workflow_id);
    absl::StatusOr<std::vector<JobEdge>> parents = DecodeEdges(Text(res, r, c.parents));
    if (!parents.ok()) return parents.status();
    j.parents = *std::move(parents);
    absl::StatusOr<std::vector<JobEdge>> dependants = DecodeEdges(Text(res, r, c.dependants));
    if (!dependants.ok()) return dependants.status();
    j.dependants = *std::move(dependants);
    j.waiting_parents = static_cast<int>(Int(res, r, c.waiting));
    if (!IsNull(res, r, c.metadata)) {
      absl::StatusOr<JobMetadata> metadata = DecodeMetadata(Text(res, r, c.metadata));
      if (!metadata.ok()) {
        return absl::InternalError(
            absl::StrCat("job ", j.id, ": ", std::string(metadata.status().message())));
      }
      j.metadata = *std::move(metadata);
    }
    jobs.push_back(std::move(j));
  }
  return jobs;
}

}  // namespace popqueue::store::postgres
