// How the Redis store encodes values: ids as 19-digit zero-padded decimals
// (lexicographic order = numeric order), times as decimal Unix microseconds,
// and a job as the fields of its hash (see lua/lib.lua insert_job).
#ifndef POPQUEUE_STORE_REDIS_JOB_HASH_H_
#define POPQUEUE_STORE_REDIS_JOB_HASH_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis/redis_client.h"
#include "popqueue/admin.h"
#include "popqueue/job.h"

namespace popqueue::store::redis_store {

// "0000000000000000042" for 42.
std::string IdKey(JobId id);
// Parses an IdKey (or any decimal id).
absl::StatusOr<JobId> ParseId(std::string_view text);

std::string Micros(absl::Time t);
std::string Micros(absl::Duration d);
absl::StatusOr<absl::Time> ParseMicros(std::string_view text);

// A job from an HGETALL reply (a flat field/value array). kInternal when a
// field is missing or malformed.
absl::StatusOr<Job> JobFromHash(const redis::Reply& reply);
// A worker from an HGETALL reply of T:worker:<id>.
absl::StatusOr<WorkerInfo> WorkerFromHash(const redis::Reply& reply);

}  // namespace popqueue::store::redis_store

#endif  // POPQUEUE_STORE_REDIS_JOB_HASH_H_
