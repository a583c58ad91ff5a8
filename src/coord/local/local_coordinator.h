// The local coordinator: in-process equivalents of locks, rate limits, the
// worker registry and wake-ups, for a Queue without a cache URL (and for
// tests of code written against coord::Coordinator).
//
// Everything lives in this object, so it coordinates the threads of one
// process only: two processes each holding a LocalCoordinator never see each
// other's locks or limits. That is why a Queue with no cache URL leaves
// leader election and the worker registry to the store (which every process
// shares) and uses this coordinator for per-process rate limits and
// in-process wake-ups.
//
// Fencing tokens come from one counter per coordinator (1, 2, 3, ...), so
// they strictly increase per lock name. Time comes from the injected clock
// (Clock::Real() by default).
//
// Thread-safety: safe for concurrent use. Wake callbacks run on the thread
// that called WakePublish; once WakeUnsubscribe returns, its callback is not
// running and never runs again (so a callback must not call WakeSubscribe or
// WakeUnsubscribe itself).
#ifndef POPQUEUE_COORD_LOCAL_LOCAL_COORDINATOR_H_
#define POPQUEUE_COORD_LOCAL_LOCAL_COORDINATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "coord/coordinator.h"
#include "popqueue/clock.h"

namespace popqueue::coord {

class LocalCoordinator : public Coordinator {
 public:
  explicit LocalCoordinator(Clock* clock = Clock::Real());

  std::string_view Kind() const override { return "local"; }
  bool SharedAcrossProcesses() const override { return false; }

  absl::StatusOr<std::optional<Lock>> LockAcquire(const LockAcquireParams& params) override;
  absl::StatusOr<bool> LockExtend(const LockExtendParams& params) override;
  absl::Status LockRelease(const Lock& lock) override;

  absl::StatusOr<RateLimitDecision> RateLimitTake(const RateLimitTakeParams& params) override;

  absl::Status WorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status WorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status WorkerDeregister(const std::string& worker_id) override;
  absl::StatusOr<std::vector<WorkerInfo>> WorkerList() override;

  // In-process only.
  bool SupportsWake() const override { return true; }
  absl::Status WakePublish(const std::string& queue) override;
  absl::StatusOr<int> WakeSubscribe(std::function<void(const std::string& queue)> on_wake) override;
  void WakeUnsubscribe(int handle) override;

 private:
  struct HeldLock {
    std::string owner;
    int64_t token = 0;
    absl::Time expires_at;
  };
  struct Registered {
    WorkerInfo info;
    absl::Time expires_at;
  };

  Clock* const clock_;
  Mutex mu_;
  int64_t last_token_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, HeldLock> locks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> tats_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Registered> workers_ ABSL_GUARDED_BY(mu_);

  Mutex wake_mu_;
  int next_handle_ ABSL_GUARDED_BY(wake_mu_) = 1;
  std::map<int, std::function<void(const std::string&)>> subscribers_ ABSL_GUARDED_BY(wake_mu_);
};

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_LOCAL_LOCAL_COORDINATOR_H_
