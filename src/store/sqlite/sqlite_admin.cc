// The SQLite store's reads and admin calls: single-job admin (get, requeue,
// cancel, delete), listing and counts, queues, leadership and the worker
// registry. The worker-side hot paths live in sqlite_store.cc.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/ids.h"
#include "common/job_json.h"
#include "nlohmann/json.hpp"
#include "store/queue_list.h"
#include "store/sqlite/sqlite_store_impl.h"
#include "store/workflow.h"

namespace popqueue::store::sqlite {
namespace {

absl::StatusOr<JobState> ReadState(const Stmt& row, int col) {
  absl::StatusOr<JobState> state = ParseJobState(row.Text(col));
  if (!state.ok()) {
    return absl::InternalError(
        absl::StrFormat("corrupt row: %s", std::string(state.status().message())));
  }
  return state;
}

// Runs a statement expected to return one job row; NotFound names the id.
absl::StatusOr<Job> StepJob(Stmt& stmt, JobId id) {
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrFormat("job %d not found", id));
  return ReadJob(stmt);
}

// The state and identifier of job `id`, inside a transaction.
struct StateRow {
  JobState state;
  std::string identifier;
};
absl::StatusOr<StateRow> ReadStateRow(Conn& conn, JobId id) {
  absl::StatusOr<Stmt> stmt = conn.Prepare("job_state.sql");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(":id", id);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrFormat("job %d not found", id));
  absl::StatusOr<JobState> state = ReadState(*stmt, 0);
  if (!state.ok()) return state.status();
  return StateRow{*state, stmt->Text(1)};
}

}  // namespace

absl::StatusOr<Job> ReadJob(const Stmt& row) {
  Job job;
  job.id = row.Int(0);
  job.queue = row.Text(1);
  job.name = row.Text(2);
  job.identifier = row.Text(3);
  job.data = row.Text(4);
  job.priority = static_cast<int>(row.Int(5));
  absl::StatusOr<JobState> state = ReadState(row, 6);
  if (!state.ok()) return state.status();
  job.state = *state;
  job.attempt = static_cast<int>(row.Int(7));
  job.max_attempts = static_cast<int>(row.Int(8));
  job.run_at = row.Time(9);
  job.created_at = row.Time(10);
  job.picked_at = row.OptTime(11);
  job.finished_at = row.OptTime(12);
  job.worker_id = row.Text(13);
  job.lease_token = row.Int(14);
  job.lease_expires_at = row.OptTime(15);
  absl::StatusOr<std::vector<JobError>> errors = ErrorsFromStoredJson(row.Text(16));
  if (!errors.ok()) return errors.status();
  job.errors = std::move(*errors);
  if (!row.IsNull(17)) job.result = row.Text(17);
  job.progress = static_cast<int>(row.Int(18));
  job.timeout = absl::Microseconds(row.Int(19));
  job.backoff_base = absl::Microseconds(row.Int(20));
  job.cancel_requested = row.Int(21) != 0;
  if (!row.IsNull(22)) {
    job.stopping = JobStopping{.reason = row.Text(22),
                               .since = row.OptTime(23).value_or(absl::UnixEpoch()),
                               .overdue = row.Int(24) != 0};
  }
  if (!row.IsNull(25)) job.workflow_id = row.Int(25);
  absl::StatusOr<std::vector<JobEdge>> parents = DecodeEdges(row.Text(26));
  if (!parents.ok()) return parents.status();
  job.parents = std::move(*parents);
  absl::StatusOr<std::vector<JobEdge>> dependants = DecodeEdges(row.Text(27));
  if (!dependants.ok()) return dependants.status();
  job.dependants = std::move(*dependants);
  job.waiting_parents = static_cast<int>(row.Int(28));
  if (!row.IsNull(29)) {
    absl::StatusOr<JobMetadata> metadata = DecodeMetadata(row.Text(29));
    if (!metadata.ok()) return metadata.status();
    job.metadata = std::move(*metadata);
  }
  return job;
}

// --- Single-job admin -----------------------------------------------------

absl::StatusOr<Job> SqliteStore::DoJobGet(const JobGetParams& params) {
  return WithReader([&](Conn& conn) -> absl::StatusOr<Job> {
    absl::StatusOr<Stmt> get = conn.Prepare("job_get.sql");
    if (!get.ok()) return get.status();
    get->Bind(":id", params.id);
    return StepJob(*get, params.id);
  });
}

absl::StatusOr<Job> SqliteStore::DoJobRequeue(const JobRequeueParams& params) {
  absl::StatusOr<Job> job = WithWriteTx([&](Conn& conn) -> absl::StatusOr<Job> {
    absl::StatusOr<StateRow> current = ReadStateRow(conn, params.id);
    if (!current.ok()) return current.status();
    if (current->state == JobState::kScheduled || current->state == JobState::kAvailable ||
        current->state == JobState::kRunning) {
      return absl::FailedPreconditionError(
          absl::StrFormat("job %d is %s; only dead, cancelled, completed or retryable jobs "
                          "can be requeued",
                          params.id, JobStateName(current->state)));
    }
    if (!current->identifier.empty()) {
      absl::StatusOr<Stmt> other = conn.Prepare("job_find_other_live.sql");
      if (!other.ok()) return other.status();
      other->Bind(":identifier", current->identifier).Bind(":id", params.id);
      absl::StatusOr<bool> row = other->Step();
      if (!row.ok()) return row.status();
      if (*row) {
        return absl::FailedPreconditionError(
            absl::StrFormat("job %d cannot be requeued: job %d with the same identifier is "
                            "not finished yet",
                            params.id, other->Int(0)));
      }
    }
    absl::StatusOr<Stmt> requeue = conn.Prepare("job_requeue.sql");
    if (!requeue.ok()) return requeue.status();
    requeue->Bind(":id", params.id).Bind(":now", params.now);
    return StepJob(*requeue, params.id);
  });
  if (job.ok()) Notify({job->queue});
  return job;
}

absl::StatusOr<Job> SqliteStore::DoJobCancel(const JobCancelParams& params) {
  std::set<std::string> available;  // dependants released over ignore_failure edges
  absl::StatusOr<Job> out = WithWriteTx([&](Conn& conn) -> absl::StatusOr<Job> {
    absl::StatusOr<StateRow> current = ReadStateRow(conn, params.id);
    if (!current.ok()) return current.status();
    if (IsFinal(current->state)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("job %d is already %s", params.id, JobStateName(current->state)));
    }
    const bool running = current->state == JobState::kRunning;
    absl::StatusOr<Stmt> cancel =
        conn.Prepare(running ? "job_cancel_request.sql" : "job_cancel_now.sql");
    if (!cancel.ok()) return cancel.status();
    cancel->Bind(":id", params.id);
    if (!running) cancel->Bind(":now", params.now);
    absl::StatusOr<Job> job = StepJob(*cancel, params.id);
    cancel->Reset();
    if (job.ok() && !running && !job->dependants.empty()) {
      if (absl::Status s = PropagateFinished(
              conn, {Finished{.id = job->id, .ok = false, .dependants = job->dependants}},
              params.now, &available);
          !s.ok()) {
        return s;
      }
    }
    return job;
  });
  if (out.ok()) Notify(available);
  return out;
}

absl::Status SqliteStore::DoJobDelete(const JobDeleteParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<StateRow> current = ReadStateRow(conn, params.id);
    if (!current.ok()) return current.status();
    if (current->state == JobState::kRunning) {
      return absl::FailedPreconditionError(
          absl::StrFormat("job %d is running; cancel it first", params.id));
    }
    absl::StatusOr<Stmt> del = conn.Prepare("job_delete.sql");
    if (!del.ok()) return del.status();
    del->Bind(":id", params.id);
    return del->Run();
  });
}

// --- Listing and counts ---------------------------------------------------

absl::StatusOr<JobPage> SqliteStore::DoJobList(const JobListParams& params) {
  const JobFilter& f = params.filter;
  nlohmann::json states = nlohmann::json::array();
  for (JobState s : std::set<JobState>(f.states.begin(), f.states.end())) {
    states.push_back(std::string(JobStateName(s)));
  }
  // The most selective filter picks the query, so that SQLite walks the
  // matching (column, id) index newest first; see job_list_*.sql.
  const char* query = !f.identifier.empty() ? "job_list_by_identifier.sql"
                      : !f.name.empty()     ? "job_list_by_name.sql"
                      : !f.queue.empty()    ? "job_list_by_queue.sql"
                      : states.size() == 1  ? "job_list_by_state.sql"
                                            : "job_list_all.sql";
  const std::string query_name = query;
  return WithReader([&](Conn& conn) -> absl::StatusOr<JobPage> {
    absl::StatusOr<Stmt> list = conn.Prepare(query_name);
    if (!list.ok()) return list.status();
    list->Bind(":before_id", f.before_id.value_or(std::numeric_limits<JobId>::max()))
        .Bind(":limit", f.limit + 1);
    if (query_name == "job_list_by_state.sql") {
      list->Bind(":state", states[0].get<std::string>());
    } else {
      list->Bind(":states", states.dump());
    }
    if (query_name == "job_list_by_identifier.sql") {
      list->Bind(":identifier", f.identifier);
    }
    if (query_name == "job_list_by_identifier.sql" || query_name == "job_list_by_name.sql") {
      list->Bind(":name", f.name).Bind(":queue", f.queue);
    }
    if (query_name == "job_list_by_queue.sql") list->Bind(":queue", f.queue);
    JobPage page;
    while (true) {
      absl::StatusOr<bool> row = list->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (page.jobs.size() == static_cast<size_t>(f.limit)) {
        page.next_before_id = page.jobs.back().id;
        break;
      }
      absl::StatusOr<Job> job = ReadJob(*list);
      if (!job.ok()) return job.status();
      page.jobs.push_back(std::move(*job));
    }
    return page;
  });
}

absl::StatusOr<std::vector<QueueCounts>> SqliteStore::DoJobCountByState() {
  return WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<QueueCounts>> {
    absl::StatusOr<Stmt> count = conn.Prepare("job_count_by_state.sql");
    if (!count.ok()) return count.status();
    std::vector<QueueCounts> out;
    while (true) {
      absl::StatusOr<bool> row = count->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string queue = count->Text(0);
      absl::StatusOr<JobState> state = ReadState(*count, 1);
      if (!state.ok()) return state.status();
      if (out.empty() || out.back().queue != queue) {
        out.push_back(QueueCounts{.queue = queue, .by_state = ZeroCounts()});
      }
      out.back().by_state[*state] = count->Int(2);
    }
    return out;
  });
}

absl::StatusOr<int> SqliteStore::DoJobDeleteFinishedBefore(
    const JobDeleteFinishedBeforeParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::StatusOr<int> {
    absl::StatusOr<Stmt> del = conn.Prepare("job_delete_finished_before.sql");
    if (!del.ok()) return del.status();
    del->Bind(":state", JobStateName(params.state))
        .Bind(":before", params.before)
        .Bind(":id_limit", FirstIdAfter(params.before))
        .Bind(":limit", params.limit);
    if (absl::Status s = del->Run(); !s.ok()) return s;
    return static_cast<int>(conn.Changes());
  });
}

// --- Queues -----------------------------------------------------------------

absl::Status SqliteStore::DoQueuePause(const QueueNameParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> pause = conn.Prepare("queue_pause.sql");
    if (!pause.ok()) return pause.status();
    pause->Bind(":queue", params.queue).Bind(":now", params.now);
    return pause->Run();
  });
}

absl::Status SqliteStore::DoQueueResume(const QueueNameParams& params) {
  absl::Status resumed = WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> resume = conn.Prepare("queue_resume.sql");
    if (!resume.ok()) return resume.status();
    resume->Bind(":queue", params.queue);
    return resume->Run();
  });
  // Its available jobs can be claimed again.
  if (resumed.ok()) Notify({params.queue});
  return resumed;
}

absl::StatusOr<std::vector<QueueInfo>> SqliteStore::DoQueueList() {
  absl::StatusOr<std::vector<QueueCounts>> counts = JobCountByState();
  if (!counts.ok()) return counts.status();
  absl::StatusOr<std::vector<std::string>> paused =
      WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<std::string>> {
        absl::StatusOr<Stmt> list = conn.Prepare("queue_paused_list.sql");
        if (!list.ok()) return list.status();
        std::vector<std::string> names;
        while (true) {
          absl::StatusOr<bool> row = list->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          names.push_back(list->Text(0));
        }
        return names;
      });
  if (!paused.ok()) return paused.status();
  return MergeQueueList(*std::move(counts), *paused);
}

absl::StatusOr<QueueOldestDueResult> SqliteStore::DoQueueOldestDue(
    const QueueOldestDueParams& params) {
  return WithReader([&](Conn& conn) -> absl::StatusOr<QueueOldestDueResult> {
    absl::StatusOr<Stmt> oldest = conn.Prepare("queue_oldest_due.sql");
    if (!oldest.ok()) return oldest.status();
    QueueOldestDueResult out;
    out.reserve(params.queues.size());
    const int64_t now = absl::ToUnixMicros(params.now);
    for (const std::string& queue : params.queues) {
      oldest->Reset();
      oldest->Bind(":queue", queue);
      absl::StatusOr<bool> row = oldest->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::InternalError("oldest due: no row");
      std::optional<int64_t> least;
      for (int col : {0, 1}) {
        if (oldest->IsNull(col) || oldest->Int(col) > now) continue;
        least = least ? std::min(*least, oldest->Int(col)) : oldest->Int(col);
      }
      out.push_back(least ? std::optional<absl::Time>(absl::FromUnixMicros(*least)) : std::nullopt);
    }
    oldest->Reset();
    return out;
  });
}

// --- Leadership -------------------------------------------------------------

absl::StatusOr<bool> SqliteStore::DoLeaderAttemptElect(const LeaderAttemptElectParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::StatusOr<bool> {
    absl::StatusOr<Stmt> elect = conn.Prepare("leader_attempt_elect.sql");
    if (!elect.ok()) return elect.status();
    elect->Bind(":name", params.name)
        .Bind(":leader_id", params.leader_id)
        .Bind(":now", params.now)
        .Bind(":expires_at", params.now + params.ttl);
    absl::StatusOr<bool> row = elect->Step();
    if (!row.ok()) return row.status();
    return *row;
  });
}

absl::Status SqliteStore::DoLeaderResign(const LeaderResignParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> resign = conn.Prepare("leader_resign.sql");
    if (!resign.ok()) return resign.status();
    resign->Bind(":name", params.name).Bind(":leader_id", params.leader_id);
    return resign->Run();
  });
}

// --- Worker registry ----------------------------------------------------------

absl::Status SqliteStore::DoWorkerRegister(const WorkerRegisterParams& params) {
  const WorkerInfo& w = params.worker;

  return WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> reg = conn.Prepare("worker_register.sql");
    if (!reg.ok()) return reg.status();
    reg->Bind(":id", w.id)
        .Bind(":host", w.host)
        .Bind(":address", w.address)
        .Bind(":pid", w.pid)
        .Bind(":queues", nlohmann::json(w.queues).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace))
        .Bind(":started_at", w.started_at)
        .Bind(":now", params.now);
    return reg->Run();
  });
}

absl::Status SqliteStore::DoWorkerHeartbeat(const WorkerHeartbeatParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> beat = conn.Prepare("worker_heartbeat.sql");
    if (!beat.ok()) return beat.status();
    beat->Bind(":id", params.worker_id)
        .Bind(":running", std::max(params.running, 0))
        .Bind(":now", params.now);
    if (absl::Status s = beat->Run(); !s.ok()) return s;
    if (conn.Changes() == 0) {
      return absl::NotFoundError(absl::StrFormat("worker %s is not registered", params.worker_id));
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::DoWorkerDeregister(const WorkerDeregisterParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> dereg = conn.Prepare("worker_deregister.sql");
    if (!dereg.ok()) return dereg.status();
    dereg->Bind(":id", params.worker_id);
    return dereg->Run();
  });
}

absl::StatusOr<std::vector<WorkerInfo>> SqliteStore::DoWorkerList(const WorkerListParams& params) {
  return WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<WorkerInfo>> {
    absl::StatusOr<Stmt> list = conn.Prepare("worker_list.sql");
    if (!list.ok()) return list.status();
    list->Bind(":since", params.now - params.ttl);
    std::vector<WorkerInfo> out;
    while (true) {
      absl::StatusOr<bool> row = list->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      WorkerInfo w{.id = list->Text(0),
                   .host = list->Text(1),
                   .address = list->Text(7),
                   .pid = list->Int(2),
                   .started_at = list->Time(4),
                   .last_heartbeat_at = list->Time(5),
                   .running = static_cast<int>(list->Int(6))};
      nlohmann::json queues = nlohmann::json::parse(list->Text(3), nullptr, false);
      if (queues.is_array()) {
        for (const auto& q : queues) {
          if (q.is_string()) w.queues.push_back(q.get<std::string>());
        }
      }
      out.push_back(std::move(w));
    }
    return out;
  });
}

}  // namespace popqueue::store::sqlite
