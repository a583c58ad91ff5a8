// The SQLite store's workflows: inserting a workflow in one write
// transaction, reading it back, and the dependants' step that runs inside
// the transaction of the parent's completion, failure, rescue or cancel
// (only for jobs whose stored dependants are non-empty).
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/sqlite/sqlite_store_impl.h"
#include "store/workflow.h"

namespace popqueue::store::sqlite {

absl::Status PropagateFinished(Conn& conn, std::vector<Finished> finished, absl::Time now,
                               std::set<std::string>* available) {
  absl::StatusOr<Stmt> release = conn.Prepare("workflow_release.sql");
  if (!release.ok()) return release.status();
  absl::StatusOr<Stmt> cancel = conn.Prepare("workflow_cancel.sql");
  if (!cancel.ok()) return cancel.status();
  std::deque<Finished> work(std::make_move_iterator(finished.begin()),
                            std::make_move_iterator(finished.end()));
  while (!work.empty()) {
    Finished parent = std::move(work.front());
    work.pop_front();
    for (const JobEdge& edge : parent.dependants) {
      if (parent.ok || edge.ignore_failure) {
        release->Reset();
        release->Bind(":id", edge.id).Bind(":now", now);
        absl::StatusOr<bool> row = release->Step();
        if (!row.ok()) return row.status();
        if (*row && release->Text(1) == "available") available->insert(release->Text(0));
        release->Reset();
        continue;
      }
      cancel->Reset();
      cancel->Bind(":id", edge.id)
          .Bind(":now", now)
          .Bind(":at_ms", absl::ToUnixMillis(now))
          .Bind(":message", ParentFailedMessage(parent.id));
      absl::StatusOr<bool> row = cancel->Step();
      if (!row.ok()) return row.status();
      if (*row) {
        absl::StatusOr<std::vector<JobEdge>> next = DecodeEdges(cancel->Text(0));
        if (!next.ok()) return next.status();
        if (!next->empty()) work.push_back(Finished{.id = edge.id, .dependants = std::move(*next)});
      }
      cancel->Reset();
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::DoWorkflowInsert(const WorkflowInsertParams& params,
                                           const std::vector<WorkflowRow>& rows) {
  std::set<std::string> available;
  absl::Status status = WithWriteTx([&](Conn& conn) -> absl::Status {
    absl::StatusOr<Stmt> insert = conn.Prepare("workflow_insert.sql");
    if (!insert.ok()) return insert.status();
    for (const WorkflowRow& row : rows) {
      const NewJob& job = row.job;
      insert->Reset();
      insert->Bind(":id", job.id)
          .Bind(":queue", job.queue)
          .Bind(":name", job.name)
          .Bind(":data", job.data)
          .Bind(":priority", job.priority)
          .Bind(":state", JobStateName(row.state))
          .Bind(":max_attempts", job.max_attempts)
          .Bind(":run_at", job.run_at)
          .Bind(":created_at", params.now)
          .Bind(":timeout_us", absl::ToInt64Microseconds(job.timeout))
          .Bind(":backoff_base_us", absl::ToInt64Microseconds(job.backoff_base))
          .Bind(":workflow_id", params.workflow_id)
          .Bind(":parents", EncodeEdges(row.parents))
          .Bind(":dependants", EncodeEdges(row.dependants))
          .Bind(":waiting", static_cast<int64_t>(row.parents.size()))
          .Bind(":metadata", job.metadata);
      if (absl::Status s = insert->Run(); !s.ok()) return s;
      if (row.state == JobState::kAvailable) available.insert(job.queue);
    }
    return absl::OkStatus();
  });
  if (status.ok()) Notify(available);
  return status;
}

absl::StatusOr<std::vector<Job>> SqliteStore::DoWorkflowGet(const WorkflowGetParams& params) {
  return WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<Job>> {
    absl::StatusOr<Stmt> get = conn.Prepare("workflow_get.sql");
    if (!get.ok()) return get.status();
    get->Bind(":workflow_id", params.workflow_id);
    std::vector<Job> jobs;
    while (true) {
      absl::StatusOr<bool> row = get->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<Job> job = ReadJob(*get);
      if (!job.ok()) return job.status();
      jobs.push_back(std::move(*job));
    }
    return jobs;
  });
}

}  // namespace popqueue::store::sqlite
