// Store's public methods: the contract's edge rules, checked once for every
// backend (validate.h), then the backend's Do* method. The trivial answers
// live here too, so no backend pays a round trip for them or answers them
// its own way: an empty batch changes nothing, a claim of 0 jobs (or of no
// queues) returns none, and a non-positive id names no job (kNotFound).
#include "store/store.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "common/field_error.h"
#include "store/validate.h"
#include "store/workflow.h"

namespace popqueue::store {
namespace {

absl::Status NoSuchJob(JobId id) {
  return absl::NotFoundError(absl::StrFormat("job %d not found", id));
}

}  // namespace

absl::Status Store::Migrate() { return DoMigrate(); }

absl::StatusOr<JobInsertManyResult> Store::JobInsertMany(const JobInsertManyParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  if (params.jobs.empty()) return JobInsertManyResult();
  return DoJobInsertMany(params);
}

absl::StatusOr<JobClaimResult> Store::JobClaim(const JobClaimParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  if (params.limit == 0 || params.queues.empty()) return JobClaimResult();
  return DoJobClaim(params);
}

absl::StatusOr<JobIdList> Store::JobCompleteMany(const JobCompleteManyParams& params) {
  if (params.items.empty()) return JobIdList();
  return DoJobCompleteMany(params);
}

absl::StatusOr<JobIdList> Store::JobFailMany(const JobFailManyParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  if (params.items.empty()) return JobIdList();
  return DoJobFailMany(params);
}

absl::StatusOr<JobHeartbeatManyResult> Store::JobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  if (params.items.empty()) return JobHeartbeatManyResult();
  return DoJobHeartbeatMany(params);
}

absl::StatusOr<JobRescueExpiredResult> Store::JobRescueExpired(
    const JobRescueExpiredParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoJobRescueExpired(params);
}

absl::StatusOr<Job> Store::JobGet(const JobGetParams& params) {
  if (params.id <= 0) return NoSuchJob(params.id);
  return DoJobGet(params);
}

absl::StatusOr<Job> Store::JobRequeue(const JobRequeueParams& params) {
  if (params.id <= 0) return NoSuchJob(params.id);
  return DoJobRequeue(params);
}

absl::StatusOr<Job> Store::JobCancel(const JobCancelParams& params) {
  if (params.id <= 0) return NoSuchJob(params.id);
  return DoJobCancel(params);
}

absl::Status Store::JobDelete(const JobDeleteParams& params) {
  if (params.id <= 0) return NoSuchJob(params.id);
  return DoJobDelete(params);
}

absl::StatusOr<JobPage> Store::JobList(const JobListParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoJobList(params);
}

absl::StatusOr<std::vector<QueueCounts>> Store::JobCountByState() { return DoJobCountByState(); }

absl::StatusOr<int> Store::JobDeleteFinishedBefore(const JobDeleteFinishedBeforeParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoJobDeleteFinishedBefore(params);
}

absl::Status Store::QueuePause(const QueueNameParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoQueuePause(params);
}

absl::Status Store::QueueResume(const QueueNameParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoQueueResume(params);
}

absl::StatusOr<std::vector<QueueInfo>> Store::QueueList() { return DoQueueList(); }

absl::StatusOr<QueueOldestDueResult> Store::QueueOldestDue(const QueueOldestDueParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  if (params.queues.empty()) return QueueOldestDueResult();
  return DoQueueOldestDue(params);
}

absl::StatusOr<bool> Store::LeaderAttemptElect(const LeaderAttemptElectParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoLeaderAttemptElect(params);
}

absl::Status Store::LeaderResign(const LeaderResignParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoLeaderResign(params);
}

absl::Status Store::WorkerRegister(const WorkerRegisterParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoWorkerRegister(params);
}

absl::Status Store::WorkerHeartbeat(const WorkerHeartbeatParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoWorkerHeartbeat(params);
}

absl::Status Store::WorkerDeregister(const WorkerDeregisterParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoWorkerDeregister(params);
}

absl::StatusOr<std::vector<WorkerInfo>> Store::WorkerList(const WorkerListParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoWorkerList(params);
}

absl::StatusOr<bool> Store::CronFireOnce(const CronFireOnceParams& params) {
  if (absl::Status s = Validate(params); !s.ok()) return s;
  return DoCronFireOnce(params);
}

absl::Status Store::WorkflowInsert(const WorkflowInsertParams& params) {
  if (absl::Status s = ValidateWorkflow(params); !s.ok()) return s;
  if (!SupportsCrossQueueWorkflows()) {
    for (size_t i = 1; i < params.jobs.size(); ++i) {
      if (params.jobs[i].job.queue != params.jobs[0].job.queue) {
        return FieldError(absl::StrFormat("jobs[%d].queue", i),
                          absl::StrFormat("this store keeps a workflow in one queue: \"%s\", "
                                          "not \"%s\" (jobs[0].queue)",
                                          params.jobs[i].job.queue, params.jobs[0].job.queue));
      }
    }
  }
  return DoWorkflowInsert(params, PlanWorkflow(params));
}

absl::StatusOr<Workflow> Store::WorkflowGet(const WorkflowGetParams& params) {
  auto none = [&] {
    return absl::NotFoundError(absl::StrFormat("workflow %d not found", params.workflow_id));
  };
  if (params.workflow_id <= 0) return none();
  absl::StatusOr<std::vector<Job>> jobs = DoWorkflowGet(params);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return none();
  return Workflow{.id = params.workflow_id, .jobs = std::move(*jobs)};
}

absl::StatusOr<int> Store::Subscribe(std::function<void(const std::string& queue)> on_available) {
  if (!on_available) {
    return absl::InvalidArgumentError("on_available: the callback is empty");
  }
  if (!SupportsNotify()) {
    return absl::UnimplementedError("this store has no notifications");
  }
  return DoSubscribe(std::move(on_available));
}

}  // namespace popqueue::store
