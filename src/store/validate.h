// Checks of store params shared by every backend, so each refuses bad input
// with the same message.
#ifndef POPQUEUE_STORE_VALIDATE_H_
#define POPQUEUE_STORE_VALIDATE_H_

#include "absl/status/status.h"
#include "store/store.h"

namespace popqueue::store {

// InvalidArgument for a non-positive id, an empty queue, max_attempts < 1 or
// a negative timeout/backoff.
absl::Status ValidateNewJob(const NewJob& job);
// InvalidArgument unless name and leader_id are set and ttl is positive.
absl::Status ValidateLeaderElect(const LeaderAttemptElectParams& params);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_VALIDATE_H_
