// The memcached coordinator: locks, rate limits and the worker registry on
// one or more memcached servers (memcached://host[:port][,host[:port]...]).
//
// Mechanisms (every multi-step change is a read then a compare-and-swap,
// retried on conflict):
// - Lock: `add` of "<owner>\n0" with the ttl as expiry takes a free lock;
//   the holder then draws its fencing token from a per-name counter (CAS:
//   max(last + 1, now in microseconds)) and CASes it into the lock. Extend
//   and release CAS the holder's exact value (release = CAS with an expiry
//   in the past), so only the holder with its token can do either.
// - Rate limit: GCRA (coord/gcra.h) with the theoretical arrival time in one
//   key per limit, updated by CAS; refusals only read.
// - Registry: one key per worker (JSON, expiring after the ttl) and an index
//   key listing worker ids, pruned by WorkerList.
//
// Limits, stated honestly (docs/coordination.md):
// - Memcached may evict any key under memory pressure. An evicted lock is
//   free again before its ttl (two holders possible, which is what fencing
//   tokens are for); an evicted token counter restarts from the current time
//   in microseconds, so tokens still increase unless more than one lock was
//   taken per microsecond or clocks jump back. An evicted rate-limit key
//   lets one take through early. An evicted worker key drops the worker from
//   the list until its next heartbeat re-registers it.
// - Expiry has whole-second resolution (ttl rounded up, may end up to 1 s
//   early) and runs on each server's clock; rate-limit time is this host's
//   clock, so hosts must agree (NTP) to within a fraction of the interval.
// - A server restart loses everything; a key lives on one server, so losing
//   a server loses its share.
// - No pub/sub: SupportsWake() is false; workers poll or use the store's
//   notifications.
//
// Thread-safety: safe for concurrent use.
#ifndef POPQUEUE_COORD_MEMCACHED_MEMCACHED_COORDINATOR_H_
#define POPQUEUE_COORD_MEMCACHED_MEMCACHED_COORDINATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coord/coordinator.h"
#include "coord/memcached/mc_client.h"

namespace popqueue::coord {

class MemcachedCoordinator : public Coordinator {
 public:
  // `url`: memcached://...; `ns`: key namespace (see OpenCoordinator).
  static absl::StatusOr<std::shared_ptr<MemcachedCoordinator>> Open(const std::string& url,
                                                                    const std::string& ns);

  std::string_view Kind() const override { return "memcached"; }

  absl::StatusOr<std::optional<Lock>> LockAcquire(const LockAcquireParams& params) override;
  absl::StatusOr<bool> LockExtend(const LockExtendParams& params) override;
  absl::Status LockRelease(const Lock& lock) override;

  absl::StatusOr<RateLimitDecision> RateLimitTake(const RateLimitTakeParams& params) override;

  absl::Status WorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status WorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status WorkerDeregister(const std::string& worker_id) override;
  absl::StatusOr<std::vector<WorkerInfo>> WorkerList() override;

 private:
  MemcachedCoordinator(std::unique_ptr<mc::Client> client, std::string prefix)
      : client_(std::move(client)), prefix_(std::move(prefix)) {}

  std::string Key(const std::string& kind, const std::string& name) const;
  absl::StatusOr<int64_t> NextToken(const std::string& lock_name);
  absl::Status IndexAdd(const std::string& worker_id);
  absl::Status IndexRemove(const std::vector<std::string>& worker_ids);

  const std::unique_ptr<mc::Client> client_;
  const std::string prefix_;  // "popqueue:<ns>:"
};

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_MEMCACHED_MEMCACHED_COORDINATOR_H_
