// The store contract's edge rules, one check per params struct, so that
// every backend refuses the same calls with the same message. Store's public
// methods (store.cc) run them before calling a backend; the rules are listed
// in docs/store-contract.md ("Edge rules").
//
// Every refusal is kInvalidArgument naming its field (common/field_error.h):
// "limit", "lease", "jobs[2].queue", "items[0].to", "job.max_attempts".
#ifndef POPQUEUE_STORE_VALIDATE_H_
#define POPQUEUE_STORE_VALIDATE_H_

#include "absl/status/status.h"
#include "store/store.h"

namespace popqueue::store {

// A positive id, a non-empty queue and name, max_attempts >= 1, timeout and
// backoff_base not negative.
absl::Status ValidateNewJob(const NewJob& job);

absl::Status Validate(const JobInsertManyParams& params);  // every job
// limit >= 0 (0 claims nothing), a positive lease.

absl::Status Validate(const JobClaimParams& params);
// Every item goes to retryable, dead or cancelled.
absl::Status Validate(const JobFailManyParams& params);
absl::Status Validate(const JobHeartbeatManyParams& params);  // lease > 0
absl::Status Validate(const JobRescueExpiredParams& params);  // limit >= 1
absl::Status Validate(const JobListParams& params);           // limit 1..1000
// A final state, limit >= 1.
absl::Status Validate(const JobDeleteFinishedBeforeParams& params);
absl::Status Validate(const QueueNameParams& params);       // a queue name
absl::Status Validate(const QueueOldestDueParams& params);  // every queue named
// A name, a leader id and a positive ttl.
absl::Status Validate(const LeaderAttemptElectParams& params);
absl::Status Validate(const LeaderResignParams& params);      // name, leader id
absl::Status Validate(const WorkerRegisterParams& params);    // worker.id
absl::Status Validate(const WorkerHeartbeatParams& params);   // worker_id
absl::Status Validate(const WorkerDeregisterParams& params);  // worker_id
absl::Status Validate(const WorkerListParams& params);        // ttl > 0
// A schedule name and a valid job.
absl::Status Validate(const CronFireOnceParams& params);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_VALIDATE_H_
