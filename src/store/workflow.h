// Workflow helpers every backend shares: the edge rules checked once, the
// stored rows derived once, and one text form of an edge list.
//
// Edge lists are stored as text on every backend (a SQL column, a Redis hash
// field, a MongoDB string): comma-separated job ids, each followed by "~"
// when the edge is ignore_failure, e.g. "17,18~". Lua scripts parse the same
// form (lua/lib.lua).
#ifndef POPQUEUE_STORE_WORKFLOW_H_
#define POPQUEUE_STORE_WORKFLOW_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store.h"

namespace popqueue::store {

// The edge rules: workflow_id > 0, at least one job, every job valid and
// without identifier, depends_on indexes in range, no self edge, no
// duplicate edge, no cycle (InvalidArgument naming jobs[i].depends_on[k]).
absl::Status ValidateWorkflow(const WorkflowInsertParams& params);

// The rows to store, in params order (params must be valid).
std::vector<WorkflowRow> PlanWorkflow(const WorkflowInsertParams& params);

std::string EncodeEdges(const std::vector<JobEdge>& edges);
// InternalError on a malformed stored list.
absl::StatusOr<std::vector<JobEdge>> DecodeEdges(std::string_view text);

// The error appended to a dependant cancelled because `parent` ended
// dead or cancelled.
std::string ParentFailedMessage(JobId parent);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_WORKFLOW_H_
