// Parameter checks shared by every coordinator, so all of them refuse the
// same input with the same kInvalidArgument message.
#ifndef POPQUEUE_COORD_VALIDATE_H_
#define POPQUEUE_COORD_VALIDATE_H_

#include <string>

#include "absl/status/status.h"
#include "coord/coordinator.h"

namespace popqueue::coord {

// Lock names and owners: 1-200 bytes. ttl: at least 1 ms, at most 30 days.
absl::Status ValidateLockAcquire(const LockAcquireParams& params);
absl::Status ValidateLockExtend(const LockExtendParams& params);
absl::Status ValidateLock(const Lock& lock);

// Worker ids: 1-200 bytes. ttl: at least 1 ms, at most 30 days.
absl::Status ValidateWorkerRegister(const WorkerRegisterParams& params);
absl::Status ValidateWorkerHeartbeat(const WorkerHeartbeatParams& params);
absl::Status ValidateWorkerId(const std::string& worker_id);

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_VALIDATE_H_
