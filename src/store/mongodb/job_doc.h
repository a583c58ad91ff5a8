// The stored form of a job in MongoDB: one document per job.
//
//   _id               int64   the job id
//   key               string  the job id in decimal. Single-job operations
//                             filter on {_id, key}: MongoDB serves them from
//                             _id; FerretDB pushes only equality on values it
//                             can compare exactly down to SQL, and ids are
//                             beyond 2^53, so the string is what it narrows by
//   ready             string  "<queue>|<priority>" while available, absent
//                             otherwise: the claim's candidates per priority
//                             level (levels are listed in <collection>_levels)
//   wait              string  the queue while scheduled or retryable, absent
//                             otherwise: the claim's due-job candidates
//   queue name identifier data   string
//   priority attempt max_attempts progress   int32
//   state             string  stored spelling ("available", ...)
//   run_at created_at picked_at finished_at lease_expires_at
//                     int64   microseconds since the Unix epoch; the optional
//                             ones are absent when unset
//   worker_id         string
//   lease_token       int64   fencing token of the current (or last) lease
//   lease             string  lease_token in decimal: what FerretDB narrows
//                             the updates of one claim's jobs by
//   errors            array   [{attempt: int32, at: int64 ms, message}]
//   result            string  absent when none
//   timeout_us backoff_base_us   int64
//   cancel_requested  bool
//   stop_reason stopping_since stop_overdue   string, int64 (us), bool: the
//                             running attempt its worker asked to stop
//                             (Job::stopping); absent until then, removed by
//                             the next claim
//   claim_seq         int64   claims so far, abandoned ones included (never
//                             reset); claim n of a job
//                             inserts the record "<id>:<n>" into
//                             <collection>_claims, whose unique _id makes the
//                             claim exclusive on every server
//   unique_key        string  = identifier while the job is non-final and the
//                             identifier is non-empty; absent otherwise. A
//                             unique sparse index on it enforces "one
//                             non-final job per identifier" (see
//                             docs/mongodb.md: partial indexes are not
//                             portable to FerretDB).
//   wf par dep waiting  int64, string, string, int32: a workflow job's
//                             workflow id, parent and dependant edges
//                             (store/workflow.h text form) and parents not
//                             yet done; absent on plain jobs
#ifndef POPQUEUE_STORE_MONGODB_JOB_DOC_H_
#define POPQUEUE_STORE_MONGODB_JOB_DOC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "popqueue/job.h"
#include "store/mongodb/mongo_client.h"
#include "store/store.h"

namespace popqueue::store::mongodb {

// The `key` of a job: its id in decimal.
std::string JobKey(JobId id);
// The `lease` value of a lease token: the token in decimal.
std::string LeaseKey(int64_t lease_token);
// The `ready` value of an available job of `queue` with `priority`.
std::string ReadyKey(const std::string& queue, int priority);
// The filter {_id: id, key: JobKey(id)} that every single-job change starts
// from (see `key` above).
Doc ById(JobId id);

// The document for a new job in `state` (scheduled or available).
Doc NewJobDoc(const NewJob& job, JobState state, absl::Time now);

// Reads a job document; Internal when it is corrupt (unknown state, missing
// _id).
absl::StatusOr<Job> ReadJob(const bson_t* doc);

// The state field of a document; Internal when missing or unknown.
absl::StatusOr<JobState> ReadState(const bson_t* doc);

// The string form of a state for filters and updates.
std::string StateStr(JobState state);

}  // namespace popqueue::store::mongodb

#endif  // POPQUEUE_STORE_MONGODB_JOB_DOC_H_
