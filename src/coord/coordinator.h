// The coordinator contract: what processes share besides the job store.
//
// The second URL of Queue(db_url, cache_url, ...) names a coordinator:
// redis://, memcached://, or "" for the local one (in-process equivalents,
// with leader election and the worker registry left to the store). It serves
// distributed locks with fencing tokens, rate limits across processes, the
// worker registry, and (when the backend can) wake-ups between processes.
//
// Like the store: one abstract class, methods named Noun-Verb, each taking one
// params struct and returning absl::Status[Or]. Time comes from the
// coordinator's own clock (Redis TIME, memcached expiry), never from params,
// because the point is agreement across machines.
//
// Errors: kUnavailable when the server cannot be reached (callers retry),
// kInvalidArgument for bad params. Every implementation passes tests/coord
// against a real server.
//
// Thread-safety: safe for concurrent use from any number of threads. A
// Coordinator is shared (std::shared_ptr) by the Queue and its services.
#ifndef POPQUEUE_COORD_COORDINATOR_H_
#define POPQUEUE_COORD_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "popqueue/admin.h"

namespace popqueue::coord {

// A held lock. `token` is the fencing token: strictly greater than the token
// of every earlier holder of the same name, so a resource guarded by the lock
// can refuse writes from a holder that lost it.
struct Lock {
  std::string name;
  std::string owner;
  int64_t token = 0;
};

struct LockAcquireParams {
  std::string name;    // e.g. "leader:maintenance"
  std::string owner;   // the candidate (worker id)
  absl::Duration ttl;  // the lock expires unless extended
};
struct LockExtendParams {
  Lock lock;
  absl::Duration ttl;
};

struct RateLimitTakeParams {
  std::string key;        // e.g. "job:send_email" or "queue:mail"
  int64_t limit = 0;      // at most `limit` takes ...
  absl::Duration period;  // ... per `period`, across all processes
  int64_t cost = 1;
};
struct RateLimitDecision {
  bool allowed = false;
  // When refused: how long until one take would be allowed.
  absl::Duration retry_after = absl::ZeroDuration();
};

struct WorkerRegisterParams {
  WorkerInfo worker;
  absl::Duration ttl;  // dropped from the registry after ttl without heartbeat
};
struct WorkerHeartbeatParams {
  std::string worker_id;
  int running = 0;
  absl::Duration ttl;
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;

  // "redis", "memcached" or "local".
  virtual std::string_view Kind() const = 0;

  // Whether what this coordinator holds is seen by other processes (Redis,
  // Memcached). When not (the in-process default), the worker registry and
  // the maintenance leadership go through the store instead.
  virtual bool SharedAcrossProcesses() const { return true; }

  // Takes the lock when free or expired; nullopt when someone else holds it.
  // The holder calling again gets its lock back (same token) with a new ttl.
  virtual absl::StatusOr<std::optional<Lock>> LockAcquire(const LockAcquireParams& params) = 0;
  // False when `lock` is no longer held by its owner with its token.
  virtual absl::StatusOr<bool> LockExtend(const LockExtendParams& params) = 0;
  // Releases only if still held with this token; otherwise a no-op.
  virtual absl::Status LockRelease(const Lock& lock) = 0;

  virtual absl::StatusOr<RateLimitDecision> RateLimitTake(const RateLimitTakeParams& params) = 0;

  // The worker registry. Heartbeat of an unknown (or expired) worker:
  // kNotFound, so a deregistered worker is not revived by a late heartbeat.
  virtual absl::Status WorkerRegister(const WorkerRegisterParams& params) = 0;
  virtual absl::Status WorkerHeartbeat(const WorkerHeartbeatParams& params) = 0;
  virtual absl::Status WorkerDeregister(const std::string& worker_id) = 0;
  virtual absl::StatusOr<std::vector<WorkerInfo>> WorkerList() = 0;

  // Optional capability: wake-ups across processes (Redis pub/sub). Without
  // it, workers rely on the store's notifications or on polling.
  virtual bool SupportsWake() const { return false; }
  virtual absl::Status WakePublish(const std::string& queue) {
    return absl::UnimplementedError("this coordinator has no wake-ups");
  }
  // `on_wake(queue)` may be called from any thread, possibly spuriously;
  // queue "" means wake-ups may have been lost (e.g. after a reconnect):
  // look at every queue. Once WakeUnsubscribe returns, the callback is not
  // running and is never called again; it must not (un)subscribe itself.
  virtual absl::StatusOr<int> WakeSubscribe(std::function<void(const std::string& queue)> on_wake) {
    return absl::UnimplementedError("this coordinator has no wake-ups");
  }
  virtual void WakeUnsubscribe(int handle) {}
};

// Opens the coordinator a cache URL names: "" -> local, redis://[:password@]
// host[:port][/db], memcached://host[:port][,host:port...]. Clear
// kInvalidArgument for unknown schemes and malformed URLs; kUnavailable when
// the server cannot be reached now.
//
// `ns` (namespace) separates the locks, rate limits and registries of
// unrelated queues sharing one server: every key the coordinator writes
// starts with it. Processes of one queue must pass the same ns (the Queue
// passes "<db_name>/<collection>"). "" = the shared namespace "default".
//
// Implemented in src/coord/registry.cc, compiled into the popqueue library
// (one line per compiled-in backend).
absl::StatusOr<std::shared_ptr<Coordinator>> OpenCoordinator(const std::string& cache_url,
                                                             const std::string& ns = "");

// Comma-separated schemes of the compiled-in backends, for messages.
std::string SupportedCoordinatorSchemes();

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_COORDINATOR_H_
