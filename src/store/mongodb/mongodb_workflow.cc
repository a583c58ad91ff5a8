// The MongoDB store's workflows: one unordered insert of every job (undone
// on failure, as JobInsertMany), the workflow read by its `wf` field, and
// the dependants' step after a workflow parent's completion, failure,
// rescue or cancel: one findAndModify per dependant, each guarded by
// {state: scheduled, waiting > 0}.
//
// Not atomic with the parent's own change: MongoDB-wire servers without
// multi-document transactions (FerretDB, mongo-java-server) cannot commit
// both together, so a process dying between the parent's change and this
// step leaves the dependants waiting (docs/composition.md says so).
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"
#include "store/workflow.h"

namespace popqueue::store::mongodb {

absl::Status MongoStore::PropagateFinished(const Collection& jobs, JobId id, bool ok,
                                           absl::Time now) {
  absl::StatusOr<std::vector<BsonPtr>> docs =
      jobs.Find(ById(id), Doc().Sub("projection", Keys({{"dep", 1}})), "workflow: dependants");
  if (!docs.ok()) return docs.status();
  if (docs->empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<JobEdge>> first =
      DecodeEdges(GetStr((*docs)[0].get(), "dep").value_or(""));
  if (!first.ok()) return first.status();
  struct Finished {
    JobId id;
    bool ok;
    std::vector<JobEdge> dependants;
  };
  std::deque<Finished> work = {{id, ok, std::move(*first)}};
  while (!work.empty()) {
    Finished parent = std::move(work.front());
    work.pop_front();
    for (const JobEdge& edge : parent.dependants) {
      Doc waiting = ById(edge.id);
      waiting.Str("state", "scheduled").Sub("waiting", Doc().Int32("$gt", 0));
      if (parent.ok || edge.ignore_failure) {
        absl::StatusOr<BsonPtr> doc =
            jobs.FindAndModify(waiting, nullptr, Doc().Sub("$inc", Doc().Int32("waiting", -1)),
                               /*upsert=*/false, "workflow: release");
        if (!doc.ok()) return doc.status();
        if (*doc == nullptr || GetInt64(doc->get(), "waiting").value_or(1) != 0) continue;
        // The last parent: available now (its level was registered at insert).
        Doc last = ById(edge.id);
        last.Str("state", "scheduled").Int32("waiting", 0);
        const std::string queue = GetStr(doc->get(), "queue").value_or("");
        const int priority = static_cast<int>(GetInt64(doc->get(), "priority").value_or(0));
        absl::StatusOr<BsonPtr> made =
            jobs.FindAndModify(last, nullptr,
                               Doc()
                                   .Sub("$set", Doc()
                                                    .Str("state", "available")
                                                    .Time("run_at", now)
                                                    .Str("ready", ReadyKey(queue, priority)))
                                   .Sub("$unset", Doc().Str("wait", "")),
                               /*upsert=*/false, "workflow: make available");
        if (!made.ok()) return made.status();
        continue;
      }
      Doc error;
      error.Int32("attempt", 0)
          .Int64("at", absl::ToUnixMillis(now))
          .Str("message", ParentFailedMessage(parent.id));
      absl::StatusOr<BsonPtr> doc = jobs.FindAndModify(
          waiting, nullptr,
          Doc()
              .Sub("$set",
                   Doc().Str("state", "cancelled").Time("finished_at", now).Int32("waiting", 0))
              .Sub("$unset", Doc().Str("wait", ""))
              .Sub("$push", Doc().Sub("errors", error)),
          /*upsert=*/false, "workflow: cancel");
      if (!doc.ok()) return doc.status();
      if (*doc == nullptr) continue;
      absl::StatusOr<std::vector<JobEdge>> next =
          DecodeEdges(GetStr(doc->get(), "dep").value_or(""));
      if (!next.ok()) return next.status();
      if (!next->empty()) work.push_back(Finished{edge.id, false, std::move(*next)});
    }
  }
  return absl::OkStatus();
}

absl::Status MongoStore::DoWorkflowInsert(const WorkflowInsertParams& params,
                                          const std::vector<WorkflowRow>& rows) {
  // Every job becomes available some day: claims must know its level.
  std::vector<std::pair<std::string, int>> levels;
  for (const WorkflowRow& row : rows) levels.emplace_back(row.job.queue, row.job.priority);
  if (absl::Status s = RegisterLevels(levels); !s.ok()) return s;
  return With(jobs_, [&](const Collection& jobs) -> absl::Status {
    std::vector<Doc> docs;
    std::vector<JobId> ids;
    for (const WorkflowRow& row : rows) {
      Doc doc = NewJobDoc(row.job, row.state, params.now);
      doc.Int64("wf", params.workflow_id)
          .Str("par", EncodeEdges(row.parents))
          .Str("dep", EncodeEdges(row.dependants))
          .Int32("waiting", static_cast<int32_t>(row.parents.size()));
      docs.push_back(std::move(doc));
      ids.push_back(row.job.id);
    }
    std::vector<const bson_t*> ptrs;
    for (const Doc& d : docs) ptrs.push_back(d.get());
    absl::StatusOr<std::vector<WriteError>> errors = jobs.InsertMany(ptrs, "insert a workflow");
    absl::Status cause = errors.status();
    if (errors.ok() && !errors->empty()) {
      const WriteError& e = errors->front();
      cause = e.code == kDuplicateKey
                  ? absl::AlreadyExistsError(absl::StrFormat(
                        "job id %d is already taken; nothing of the workflow was stored",
                        e.index < ids.size() ? ids[e.index] : 0))
                  : absl::InvalidArgumentError(
                        absl::StrFormat("insert a workflow: refused by the server: %s", e.message));
      // Remove what landed, but never the job that held the taken id.
      std::vector<JobId> landed;
      for (size_t k = 0; k < ids.size(); ++k) {
        bool failed = false;
        for (const WriteError& w : *errors) failed = failed || w.index == k;
        if (!failed) landed.push_back(ids[k]);
      }
      ids = std::move(landed);
    }
    if (cause.ok()) return cause;
    if (!ids.empty()) (void)jobs.DeleteMany(IdIn(ids), "undo a partial workflow insert");
    return cause;
  });
}

absl::StatusOr<std::vector<Job>> MongoStore::DoWorkflowGet(const WorkflowGetParams& params) {
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<std::vector<Job>> {
    absl::StatusOr<std::vector<BsonPtr>> docs =
        jobs.Find(Doc().Int64("wf", params.workflow_id), Doc().Sub("sort", Keys({{"_id", 1}})),
                  "get a workflow");
    if (!docs.ok()) return docs.status();
    std::vector<Job> out;
    for (const BsonPtr& d : *docs) {
      absl::StatusOr<Job> job = ReadJob(d.get());
      if (!job.ok()) return job.status();
      out.push_back(std::move(*job));
    }
    return out;
  });
}

}  // namespace popqueue::store::mongodb
