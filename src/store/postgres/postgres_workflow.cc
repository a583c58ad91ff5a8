// The PostgreSQL store's workflows: inserting a workflow in one statement,
// reading it back, and the dependants' step that runs in the transaction of
// the parent's completion, failure, rescue or cancel. Batches without a
// workflow parent never open that transaction: they keep the one-statement
// path of postgres_store.cc.
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/postgres/job_insert.h"
#include "store/postgres/job_rows.h"
#include "store/postgres/postgres_store_impl.h"
#include "store/workflow.h"

namespace popqueue::store::postgres {

absl::Status PostgresStore::PropagateFinished(Pool::Lease& lease, const std::vector<JobId>& ids,
                                              bool ok, absl::Time now) {
  if (ids.empty()) return absl::OkStatus();
  Params q;
  q.Add(BigintArray(ids));
  absl::StatusOr<Result> deps = lease.Exec(
      "workflow_dependants", catalog_.Query("workflow_dependants"), q, "read workflow dependants");
  if (!deps.ok()) return deps.status();
  struct Finished {
    JobId id;
    bool ok;
    std::vector<JobEdge> dependants;
  };
  std::deque<Finished> work;
  for (int row = 0; row < PQntuples(deps->get()); ++row) {
    absl::StatusOr<std::vector<JobEdge>> edges = DecodeEdges(Text(deps->get(), row, 1));
    if (!edges.ok()) return edges.status();
    work.push_back(Finished{Int(deps->get(), row, 0), ok, std::move(*edges)});
  }
  while (!work.empty()) {
    Finished parent = std::move(work.front());
    work.pop_front();
    for (const JobEdge& edge : parent.dependants) {
      if (parent.ok || edge.ignore_failure) {
        Params p;
        p.Add(edge.id).Add(now).Add(catalog_.channel());
        absl::StatusOr<Result> r = lease.Exec(
            "workflow_release", catalog_.Query("workflow_release"), p, "release a workflow job");
        if (!r.ok()) return r.status();
        continue;
      }
      Params p;
      p.Add(edge.id).Add(now).Add(absl::ToUnixMillis(now)).Add(ParentFailedMessage(parent.id));
      absl::StatusOr<Result> r = lease.Exec("workflow_cancel", catalog_.Query("workflow_cancel"), p,
                                            "cancel a workflow job");
      if (!r.ok()) return r.status();
      if (PQntuples(r->get()) == 0) continue;
      absl::StatusOr<std::vector<JobEdge>> next = DecodeEdges(Text(r->get(), 0, 0));
      if (!next.ok()) return next.status();
      if (!next->empty()) work.push_back(Finished{edge.id, false, std::move(*next)});
    }
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::DoWorkflowInsert(const WorkflowInsertParams& params,
                                             const std::vector<WorkflowRow>& rows) {
  NewJobColumns columns;
  std::vector<int64_t> waiting;
  std::vector<std::optional<std::string>> states, parents, dependants;
  for (size_t i = 0; i < rows.size(); ++i) {
    const WorkflowRow& row = rows[i];
    if (absl::Status s = RefuseNul(row.job, i); !s.ok()) return s;
    columns.Add(row.job);
    states.emplace_back(std::string(JobStateName(row.state)));
    parents.emplace_back(EncodeEdges(row.parents));
    dependants.emplace_back(EncodeEdges(row.dependants));
    waiting.push_back(static_cast<int64_t>(row.parents.size()));
  }
  Params p;
  columns.AppendTo(p, /*with_identifier=*/false);
  p.Add(TextArray(states))
      .Add(TextArray(parents))
      .Add(TextArray(dependants))
      .Add(BigintArray(waiting))
      .Add(params.workflow_id)
      .Add(params.now)
      .Add(catalog_.channel());
  columns.AppendMetadataTo(p);
  return Run("workflow_insert", p, "insert a workflow").status();
}

absl::StatusOr<std::vector<Job>> PostgresStore::DoWorkflowGet(const WorkflowGetParams& params) {
  Params p;
  p.Add(params.workflow_id);
  absl::StatusOr<Result> r = Run("workflow_get", p, "get a workflow");
  if (!r.ok()) return r.status();
  return JobsFromResult(r->get());
}

}  // namespace popqueue::store::postgres
