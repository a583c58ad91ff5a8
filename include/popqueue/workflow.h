// Composing jobs: workflows (jobs with dependencies, enqueued in one call)
// and batches with callbacks. See docs/composition.md.
#ifndef POPQUEUE_WORKFLOW_H_
#define POPQUEUE_WORKFLOW_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "popqueue/job.h"
#include "popqueue/options.h"

namespace popqueue {

// The most jobs one EnqueueWorkflow call stores (a batch: members and
// callbacks together).
inline constexpr size_t kMaxWorkflowJobs = 10000;

// An edge to another job of the same workflow, by its key. A parent that
// ends dead or cancelled cancels the dependant, unless ignore_failure (then
// it counts as done for this edge: "run anyway").
struct WorkflowDependency {
  std::string key;
  bool ignore_failure = false;
};

// One job of a workflow. options.identifier must be empty; a job with
// parents runs as soon as they are done (its own run_at/delay apply only to
// jobs without parents).
struct WorkflowStep {
  std::string key;  // unique in the workflow; "" = its index ("0", "1", ...)
  std::string name;
  std::string data;
  EnqueueOptions options;
  std::vector<WorkflowDependency> depends_on;
};

// The enqueued workflow: its id (that of its first job) and each step's job
// id, in request order.
struct WorkflowEnqueued {
  JobId id = 0;
  std::vector<JobId> job_ids;
};

// A batch: members, and callback jobs enqueued with them that become
// available exactly once, when the condition first holds: on_complete when
// every member is final (completed, dead or cancelled), on_success when
// every member completed (cancelled when one fails).
struct BatchRequest {
  std::vector<WorkflowStep> jobs;  // keys and depends_on are ignored
  std::optional<WorkflowStep> on_complete;
  std::optional<WorkflowStep> on_success;
};

struct BatchEnqueued {
  JobId id = 0;  // the batch's workflow id
  std::vector<JobId> job_ids;
  JobId on_complete_id = 0;  // 0 = none
  JobId on_success_id = 0;
};

// A batch's progress: its members' counts by state.
struct BatchProgress {
  JobId id = 0;
  int64_t total = 0;
  std::map<JobState, int64_t> counts;  // members by state
  bool finished = false;               // every member is final
  bool succeeded = false;              // every member completed
  JobId on_complete_id = 0;
  JobId on_success_id = 0;
};

}  // namespace popqueue

#endif  // POPQUEUE_WORKFLOW_H_
