#include "coord/validate.h"

#include "absl/strings/str_format.h"

namespace popqueue::coord {
namespace {

constexpr size_t kMaxNameBytes = 200;

absl::Status CheckName(const char* what, const std::string& value) {
  if (value.empty() || value.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: must be 1-%d bytes, got %d", what, kMaxNameBytes, value.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckTtl(const char* what, absl::Duration ttl) {
  if (ttl < absl::Milliseconds(1) || ttl > absl::Hours(24 * 30)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s ttl: must be between 1ms and 30 days, got %s", what, absl::FormatDuration(ttl)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateLock(const Lock& lock) {
  if (absl::Status s = CheckName("lock name", lock.name); !s.ok()) return s;
  if (absl::Status s = CheckName("lock owner", lock.owner); !s.ok()) return s;
  if (lock.token < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "lock \"%s\": token must be a token LockAcquire returned, got %d", lock.name, lock.token));
  }
  return absl::OkStatus();
}

absl::Status ValidateLockAcquire(const LockAcquireParams& p) {
  if (absl::Status s = CheckName("lock name", p.name); !s.ok()) return s;
  if (absl::Status s = CheckName("lock owner", p.owner); !s.ok()) return s;
  return CheckTtl("lock", p.ttl);
}

absl::Status ValidateLockExtend(const LockExtendParams& p) {
  if (absl::Status s = ValidateLock(p.lock); !s.ok()) return s;
  return CheckTtl("lock", p.ttl);
}

absl::Status ValidateWorkerId(const std::string& worker_id) {
  return CheckName("worker id", worker_id);
}

absl::Status ValidateWorkerRegister(const WorkerRegisterParams& p) {
  if (absl::Status s = ValidateWorkerId(p.worker.id); !s.ok()) return s;
  return CheckTtl("worker", p.ttl);
}

absl::Status ValidateWorkerHeartbeat(const WorkerHeartbeatParams& p) {
  if (absl::Status s = ValidateWorkerId(p.worker_id); !s.ok()) return s;
  if (p.running < 0) {
    return absl::InvalidArgumentError("worker heartbeat: running must be >= 0");
  }
  return CheckTtl("worker", p.ttl);
}

}  // namespace popqueue::coord
