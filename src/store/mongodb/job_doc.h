// The stored form of a job in MongoDB: one document per job.
//
//   _id               int64   the job id
//   queue name identifier data   string
//   priority attempt max_attempts progress   int32
//   state             string  stored spelling ("available", ...)
//   run_at created_at picked_at finished_at lease_expires_at
//                     int64   microseconds since the Unix epoch; the optional
//                             ones are absent when unset
//   worker_id         string
//   lease_token       int64   fencing token of the current (or last) lease
//   errors            array   [{attempt: int32, at: int64 ms, message}]
//   result            string  absent when none
//   timeout_us backoff_base_us   int64
//   cancel_requested  bool
//   claim_seq         int64   claims so far (never reset); claim n of a job
//                             inserts the record "<id>:<n>" into
//                             <collection>_claims, whose unique _id makes the
//                             claim exclusive on every server
//   unique_key        string  = identifier while the job is non-final and the
//                             identifier is non-empty; absent otherwise. A
//                             unique sparse index on it enforces "one
//                             non-final job per identifier" (see
//                             docs/mongodb.md: partial indexes are not
//                             portable to FerretDB).
#ifndef POPQUEUE_STORE_MONGODB_JOB_DOC_H_
#define POPQUEUE_STORE_MONGODB_JOB_DOC_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "popqueue/job.h"
#include "store/mongodb/mongo_client.h"
#include "store/store.h"

namespace popqueue::store::mongodb {

// The document for a new job in `state` (scheduled or available).
Doc NewJobDoc(const NewJob& job, JobState state, absl::Time now);

// Reads a job document; Internal when it is corrupt (unknown state, missing
// _id).
absl::StatusOr<Job> ReadJob(const bson_t* doc);

// The state field of a document; Internal when missing or unknown.
absl::StatusOr<JobState> ReadState(const bson_t* doc);

// The string form of a state for filters and updates.
std::string StateStr(JobState state);

// The non-final states, as stored.
std::vector<std::string> NonFinalStates();

}  // namespace popqueue::store::mongodb

#endif  // POPQUEUE_STORE_MONGODB_JOB_DOC_H_
