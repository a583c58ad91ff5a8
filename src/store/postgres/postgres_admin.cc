// The admin and read side of the PostgreSQL store: single-job changes,
// listing, counts, queues, leadership, the worker registry and cron fires.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/job_json.h"
#include "nlohmann/json.hpp"
#include "store/postgres/job_insert.h"
#include "store/postgres/job_rows.h"
#include "store/postgres/postgres_store_impl.h"
#include "store/queue_list.h"

namespace popqueue::store::postgres {
namespace {

// Readers fold the count deltas once this many have piled up.
constexpr int64_t kCompactAfterRows = 256;
constexpr absl::Duration kCronFireRetention = absl::Hours(24 * 7);

absl::StatusOr<Job> OneJob(const PGresult* res) {
  absl::StatusOr<std::vector<Job>> jobs = JobsFromResult(res);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return absl::InternalError("expected one job row");
  return std::move(jobs->front());
}

}  // namespace

absl::StatusOr<Job> PostgresStore::SingleJobChange(std::string_view name, const Params& params,
                                                   std::string_view what, JobId id) {
  absl::StatusOr<Result> r = Run(name, params, what);
  if (!r.ok()) {
    if (absl::StrContains(r.status().message(), "_identifier_uidx")) {
      // 23505 on the identifier index (requeue): say what it means.
      return absl::FailedPreconditionError(
          absl::StrCat("cannot ", std::string(what), " ", id,
                       ": another scheduled, available, running or retryable job holds "
                       "the same identifier"));
    }
    return r.status();
  }
  if (PQntuples(r->get()) > 0) return OneJob(r->get());
  Params p;
  p.Add(id);
  absl::StatusOr<Result> state = Run("job_state", p, "read a job's state");
  if (!state.ok()) return state.status();
  if (PQntuples(state->get()) == 0) {
    return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot ", std::string(what), " ", id, ": it is ", std::string(Text(state->get(), 0, 0))));
}

absl::StatusOr<Job> PostgresStore::DoJobGet(const JobGetParams& params) {
  Params p;
  p.Add(params.id);
  absl::StatusOr<Result> r = Run("job_get", p, "get a job");
  if (!r.ok()) return r.status();
  if (PQntuples(r->get()) == 0) {
    return absl::NotFoundError(absl::StrCat("job ", params.id, " not found"));
  }
  return OneJob(r->get());
}

absl::StatusOr<Job> PostgresStore::DoJobRequeue(const JobRequeueParams& params) {
  Params p;
  p.Add(params.id).Add(params.now).Add(catalog_.channel());
  return SingleJobChange("job_requeue", p, "requeue job", params.id);
}

absl::StatusOr<Job> PostgresStore::DoJobCancel(const JobCancelParams& params) {
  Params p;
  p.Add(params.id).Add(params.now);
  // One transaction with the dependants' step when it cancels a workflow
  // parent; a refused cancel is explained by SingleJobChange's reading.
  std::optional<Job> cancelled;
  absl::Status s = InTransaction("cancel job", [&](Pool::Lease& lease) -> absl::Status {
    cancelled.reset();
    absl::StatusOr<Result> r =
        lease.Exec("job_cancel", catalog_.Query("job_cancel"), p, "cancel job");
    if (!r.ok()) return r.status();
    if (PQntuples(r->get()) == 0) return absl::OkStatus();
    absl::StatusOr<Job> job = OneJob(r->get());
    if (!job.ok()) return job.status();
    cancelled = std::move(*job);
    if (cancelled->state != JobState::kCancelled || cancelled->dependants.empty()) {
      return absl::OkStatus();
    }
    return PropagateFinished(lease, {cancelled->id}, false, params.now);
  });
  if (!s.ok()) return s;
  if (cancelled) return *std::move(cancelled);
  return SingleJobChange("job_cancel", p, "cancel job", params.id);
}

absl::Status PostgresStore::DoJobDelete(const JobDeleteParams& params) {
  Params p;
  p.Add(params.id);
  absl::StatusOr<Result> r = Run("job_delete", p, "delete a job");
  if (!r.ok()) return r.status();
  if (PQntuples(r->get()) > 0) return absl::OkStatus();
  absl::StatusOr<Result> state = Run("job_state", p, "read a job's state");
  if (!state.ok()) return state.status();
  if (PQntuples(state->get()) == 0) {
    return absl::NotFoundError(absl::StrCat("job ", params.id, " not found"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("cannot delete job ", params.id, " while it is running; cancel it first"));
}

absl::StatusOr<JobPage> PostgresStore::DoJobList(const JobListParams& params) {
  const JobFilter& f = params.filter;
  std::vector<std::optional<std::string>> states;
  for (JobState s : f.states) states.emplace_back(std::string(JobStateName(s)));
  Params p;
  p.Add(TextArray(states))
      .Add(f.queue)
      .Add(f.name)
      .Add(f.identifier)
      .Add(f.before_id)
      .Add(f.limit + 1);
  absl::StatusOr<Pool::Lease> lease = pool_.Acquire();
  if (!lease.ok()) return lease.status();
  // Unprepared on purpose: see job_list.sql.
  absl::StatusOr<Result> r = lease->ExecUnprepared(catalog_.Query("job_list"), p, "list jobs");
  if (!r.ok()) return r.status();
  absl::StatusOr<std::vector<Job>> jobs = JobsFromResult(r->get());
  if (!jobs.ok()) return jobs.status();
  JobPage page;
  page.jobs = *std::move(jobs);
  if (static_cast<int>(page.jobs.size()) > f.limit) {
    page.jobs.resize(f.limit);
    page.next_before_id = page.jobs.back().id;
  }
  return page;
}

absl::StatusOr<std::vector<QueueCounts>> PostgresStore::DoJobCountByState() {
  absl::StatusOr<Result> r = Run("job_count_by_state", Params(), "count jobs");
  if (!r.ok()) return r.status();
  std::vector<QueueCounts> out;
  int64_t delta_rows = 0;
  for (int row = 0; row < PQntuples(r->get()); ++row) {
    delta_rows += Int(r->get(), row, 3);
    int64_t n = Int(r->get(), row, 2);
    if (n == 0) continue;
    absl::StatusOr<JobState> state = ParseJobState(Text(r->get(), row, 1));
    if (!state.ok()) return absl::InternalError("corrupt state in job counts");
    std::string queue(Text(r->get(), row, 0));
    if (out.empty() || out.back().queue != queue) {
      out.push_back(QueueCounts{.queue = queue, .by_state = {}});
    }
    out.back().by_state[*state] = n;
  }
  if (delta_rows > kCompactAfterRows) (void)CompactCounts();
  return out;
}

absl::StatusOr<int> PostgresStore::DoJobDeleteFinishedBefore(
    const JobDeleteFinishedBeforeParams& params) {
  Params p;
  p.Add(std::string(JobStateName(params.state))).Add(params.before).Add(params.limit);
  absl::StatusOr<Result> r = Run("job_delete_finished_before", p, "delete finished jobs");
  if (!r.ok()) return r.status();
  return PQntuples(r->get());
}

absl::Status PostgresStore::SetPaused(const QueueNameParams& params, bool paused) {
  Params p;
  p.Add(params.queue).Add(paused).Add(params.now);
  return Run("queue_set_paused", p, paused ? "pause a queue" : "resume a queue").status();
}

absl::Status PostgresStore::DoQueuePause(const QueueNameParams& params) {
  return SetPaused(params, true);
}

absl::Status PostgresStore::DoQueueResume(const QueueNameParams& params) {
  return SetPaused(params, false);
}

absl::StatusOr<std::vector<QueueInfo>> PostgresStore::DoQueueList() {
  absl::StatusOr<std::vector<QueueCounts>> counts = JobCountByState();
  if (!counts.ok()) return counts.status();
  absl::StatusOr<Result> paused = Run("queue_list_paused", Params(), "list queues");
  if (!paused.ok()) return paused.status();
  std::vector<std::string> paused_names;
  for (int row = 0; row < PQntuples(paused->get()); ++row) {
    if (Bool(paused->get(), row, 1)) {
      paused_names.emplace_back(Text(paused->get(), row, 0));
    }
  }
  return MergeQueueList(*std::move(counts), paused_names);
}

absl::StatusOr<QueueOldestDueResult> PostgresStore::DoQueueOldestDue(
    const QueueOldestDueParams& params) {
  std::vector<std::optional<std::string>> names(params.queues.begin(), params.queues.end());
  Params p;
  p.Add(TextArray(names)).Add(params.now);
  absl::StatusOr<Result> r = Run("queue_oldest_due", p, "find the oldest due jobs");
  if (!r.ok()) return r.status();
  if (PQntuples(r->get()) != static_cast<int>(params.queues.size())) {
    return absl::InternalError("oldest due: one row per queue expected");
  }
  QueueOldestDueResult out;
  for (int row = 0; row < PQntuples(r->get()); ++row) {
    if (IsNull(r->get(), row, 1)) {
      out.push_back(std::nullopt);
    } else {
      out.push_back(absl::FromUnixMicros(Int(r->get(), row, 1)));
    }
  }
  return out;
}

absl::StatusOr<bool> PostgresStore::DoLeaderAttemptElect(const LeaderAttemptElectParams& params) {
  Params p;
  p.Add(params.name).Add(params.leader_id).Add(params.now).Add(params.now + params.ttl);
  absl::StatusOr<Result> r = Run("leader_attempt_elect", p, "elect a leader");
  if (!r.ok()) return r.status();
  return PQntuples(r->get()) > 0;
}

absl::Status PostgresStore::DoLeaderResign(const LeaderResignParams& params) {
  Params p;
  p.Add(params.name).Add(params.leader_id);
  return Run("leader_resign", p, "resign leadership").status();
}

absl::Status PostgresStore::DoWorkerRegister(const WorkerRegisterParams& params) {
  const WorkerInfo& w = params.worker;

  std::vector<std::optional<std::string>> queues(w.queues.begin(), w.queues.end());
  Params p;
  p.Add(w.id)
      .Add(w.host)
      .Add(w.pid)
      .Add(TextArray(queues))
      .Add(w.started_at)
      .Add(params.now)
      .Add(w.running)
      .Add(w.address);
  return Run("worker_register", p, "register a worker").status();
}

absl::Status PostgresStore::DoWorkerHeartbeat(const WorkerHeartbeatParams& params) {
  Params p;
  p.Add(params.worker_id).Add(params.running).Add(params.now);
  absl::StatusOr<Result> r = Run("worker_heartbeat", p, "heartbeat a worker");
  if (!r.ok()) return r.status();
  if (PQntuples(r->get()) == 0) {
    return absl::NotFoundError(absl::StrCat("worker \"", params.worker_id, "\" is not registered"));
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::DoWorkerDeregister(const WorkerDeregisterParams& params) {
  Params p;
  p.Add(params.worker_id);
  return Run("worker_deregister", p, "deregister a worker").status();
}

absl::StatusOr<std::vector<WorkerInfo>> PostgresStore::DoWorkerList(
    const WorkerListParams& params) {
  Params p;
  p.Add(params.now - params.ttl);
  absl::StatusOr<Result> r = Run("worker_list", p, "list workers");
  if (!r.ok()) return r.status();
  std::vector<WorkerInfo> out;
  const PGresult* res = r->get();
  for (int row = 0; row < PQntuples(res); ++row) {
    WorkerInfo w;
    w.id = std::string(Text(res, row, 0));
    w.host = std::string(Text(res, row, 1));
    w.pid = Int(res, row, 2);
    nlohmann::json queues = nlohmann::json::parse(Text(res, row, 3), nullptr,
                                                  /*allow_exceptions=*/false);
    if (queues.is_array()) {
      for (const auto& q : queues) {
        if (q.is_string()) w.queues.push_back(q.get<std::string>());
      }
    }
    w.started_at = FromMicros(Int(res, row, 4));
    w.last_heartbeat_at = FromMicros(Int(res, row, 5));
    w.running = static_cast<int>(Int(res, row, 6));
    w.address = std::string(Text(res, row, 7));
    out.push_back(std::move(w));
  }
  return out;
}

absl::StatusOr<bool> PostgresStore::DoCronFireOnce(const CronFireOnceParams& params) {
  bool fired = false;
  absl::Status s = InTransaction("fire a cron schedule", [&](Pool::Lease& lease) {
    fired = false;
    Params prune;
    prune.Add(params.schedule).Add(params.fire_time - kCronFireRetention);
    absl::StatusOr<Result> pruned = lease.Exec("cron_fire_prune", catalog_.Query("cron_fire_prune"),
                                               prune, "forget old cron fires");
    if (!pruned.ok()) return pruned.status();
    Params rec;
    rec.Add(params.schedule).Add(params.fire_time).Add(params.job.id).Add(params.now);
    absl::StatusOr<Result> recorded = lease.Exec(
        "cron_fire_record", catalog_.Query("cron_fire_record"), rec, "record a cron fire");
    if (!recorded.ok()) return recorded.status();
    if (PQntuples(recorded->get()) == 0) return absl::OkStatus();  // fired
    absl::StatusOr<JobInsertManyResult> inserted = InsertJobs(
        [&](std::string_view name, const Params& p) {
          return lease.Exec(name, catalog_.Query(name), p, "insert a cron job");
        },
        catalog_, JobInsertManyParams{.jobs = {params.job}, .now = params.now});
    if (!inserted.ok()) return inserted.status();
    fired = true;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return fired;
}

}  // namespace popqueue::store::postgres
