// The Redis store's workflows. A workflow lives in one queue (its jobs
// share the queue's slot), so every dependants' step is part of the one
// script that ends the parent (lua/workflow_lib.lua). Inserting is two
// steps: job_insert_many stores every job inert (scheduled at
// kWaitingForParents), then workflow_attach.lua records the edges and makes
// the jobs without parents due; a client dying in between leaves inert jobs
// that never run, never a dependant without its parents.
// The workflow id is its first job's id (WorkflowInsertParams), which C:dir
// maps to the queue's slot.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/redis/job_hash.h"
#include "store/redis/redis_store_impl.h"

namespace popqueue::store::redis_store {
namespace {

// Edges with 19-digit ids, as the scripts build key names from them.
std::string EdgesArg(const std::vector<JobEdge>& edges) {
  std::string out;
  for (const JobEdge& e : edges) {
    if (!out.empty()) out += ',';
    absl::StrAppend(&out, IdKey(e.id), e.ignore_failure ? "~" : "");
  }
  return out;
}

}  // namespace

absl::Status RedisStore::DoWorkflowInsert(const WorkflowInsertParams& params,
                                          const std::vector<WorkflowRow>& rows) {
  JobInsertManyParams insert{.now = params.now};
  for (const WorkflowRow& row : rows) {
    NewJob inert = row.job;
    inert.run_at = kWaitingForParents;
    insert.jobs.push_back(std::move(inert));
  }
  absl::StatusOr<JobInsertManyResult> inserted = DoJobInsertMany(insert);
  if (!inserted.ok()) return inserted.status();
  const std::string& queue = rows[0].job.queue;
  const std::string tag = QueueTag(queue);
  std::vector<std::string> args = {Micros(params.now), tag, queue, IdKey(params.workflow_id)};
  for (const WorkflowRow& row : rows) {
    args.push_back(IdKey(row.job.id));
    args.push_back(EdgesArg(row.parents));
    args.push_back(EdgesArg(row.dependants));
    args.push_back(absl::StrCat(row.parents.size()));
    args.push_back(Micros(row.job.run_at));
  }
  return Run(scripts_.workflow_attach, tag, std::move(args)).status();
}

absl::StatusOr<std::vector<Job>> RedisStore::DoWorkflowGet(const WorkflowGetParams& params) {
  absl::StatusOr<std::string> tag = TagOf(params.workflow_id);
  if (absl::IsNotFound(tag.status())) return std::vector<Job>();
  if (!tag.ok()) return tag.status();
  absl::StatusOr<redis::Reply> r =
      Run(scripts_.workflow_get, *tag, {*tag, IdKey(params.workflow_id)});
  if (!r.ok()) return r.status();
  return JobsFromReplies(*r);
}

}  // namespace popqueue::store::redis_store
