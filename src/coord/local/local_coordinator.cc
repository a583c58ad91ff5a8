#include "coord/local/local_coordinator.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "coord/gcra.h"
#include "coord/validate.h"

namespace popqueue::coord {

LocalCoordinator::LocalCoordinator(Clock* clock) : clock_(clock) {}

absl::StatusOr<std::optional<Lock>> LocalCoordinator::LockAcquire(const LockAcquireParams& params) {
  if (absl::Status s = ValidateLockAcquire(params); !s.ok()) return s;
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  auto it = locks_.find(params.name);
  if (it != locks_.end() && it->second.expires_at > now) {
    if (it->second.owner != params.owner) return std::nullopt;
    it->second.expires_at = now + params.ttl;  // the holder asks again
    return Lock{.name = params.name, .owner = params.owner, .token = it->second.token};
  }
  HeldLock held{.owner = params.owner, .token = ++last_token_, .expires_at = now + params.ttl};
  locks_[params.name] = held;
  return Lock{.name = params.name, .owner = params.owner, .token = held.token};
}

absl::StatusOr<bool> LocalCoordinator::LockExtend(const LockExtendParams& params) {
  if (absl::Status s = ValidateLockExtend(params); !s.ok()) return s;
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  auto it = locks_.find(params.lock.name);
  if (it == locks_.end() || it->second.expires_at <= now || it->second.owner != params.lock.owner ||
      it->second.token != params.lock.token) {
    return false;
  }
  it->second.expires_at = now + params.ttl;
  return true;
}

absl::Status LocalCoordinator::LockRelease(const Lock& lock) {
  if (absl::Status s = ValidateLock(lock); !s.ok()) return s;
  MutexLock l(&mu_);
  auto it = locks_.find(lock.name);
  if (it != locks_.end() && it->second.owner == lock.owner && it->second.token == lock.token) {
    locks_.erase(it);
  }
  return absl::OkStatus();
}

absl::StatusOr<RateLimitDecision> LocalCoordinator::RateLimitTake(
    const RateLimitTakeParams& params) {
  if (absl::Status s = ValidateRateLimit(params); !s.ok()) return s;
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  auto it = tats_.find(params.key);
  std::optional<absl::Time> tat;
  if (it != tats_.end()) tat = it->second;
  GcraStep step = GcraTake(tat, now, params);
  if (step.decision.allowed) tats_[params.key] = step.new_tat;
  return step.decision;
}

absl::Status LocalCoordinator::WorkerRegister(const WorkerRegisterParams& params) {
  if (absl::Status s = ValidateWorkerRegister(params); !s.ok()) return s;
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  Registered& r = workers_[params.worker.id];
  r.info = params.worker;
  r.info.last_heartbeat_at = now;
  r.expires_at = now + params.ttl;
  return absl::OkStatus();
}

absl::Status LocalCoordinator::WorkerHeartbeat(const WorkerHeartbeatParams& params) {
  if (absl::Status s = ValidateWorkerHeartbeat(params); !s.ok()) return s;
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  auto it = workers_.find(params.worker_id);
  if (it == workers_.end() || it->second.expires_at <= now) {
    if (it != workers_.end()) workers_.erase(it);
    return absl::NotFoundError(
        absl::StrFormat("worker %s is not registered (deregistered or expired): register it again",
                        params.worker_id));
  }
  it->second.info.running = params.running;
  it->second.info.last_heartbeat_at = now;
  it->second.expires_at = now + params.ttl;
  return absl::OkStatus();
}

absl::Status LocalCoordinator::WorkerDeregister(const std::string& worker_id) {
  if (absl::Status s = ValidateWorkerId(worker_id); !s.ok()) return s;
  MutexLock lock(&mu_);
  workers_.erase(worker_id);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WorkerInfo>> LocalCoordinator::WorkerList() {
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  std::vector<WorkerInfo> out;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.expires_at <= now) {
      it = workers_.erase(it);
      continue;
    }
    out.push_back(it->second.info);  // std::map: sorted by id
    ++it;
  }
  return out;
}

absl::Status LocalCoordinator::WakePublish(const std::string& queue) {
  // Callbacks run under the reader lock, so once WakeUnsubscribe (a writer)
  // returns, its callback is not running and never runs again.
  ReaderMutexLock lock(&wake_mu_);
  for (const auto& [handle, cb] : subscribers_) cb(queue);
  return absl::OkStatus();
}

absl::StatusOr<int> LocalCoordinator::WakeSubscribe(
    std::function<void(const std::string& queue)> on_wake) {
  if (!on_wake) return absl::InvalidArgumentError("wake callback is empty");
  WriterMutexLock lock(&wake_mu_);
  int handle = next_handle_++;
  subscribers_[handle] = std::move(on_wake);
  return handle;
}

void LocalCoordinator::WakeUnsubscribe(int handle) {
  WriterMutexLock lock(&wake_mu_);
  subscribers_.erase(handle);
}

}  // namespace popqueue::coord
