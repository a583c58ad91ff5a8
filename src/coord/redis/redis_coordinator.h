// The Redis coordinator: locks with fencing tokens, rate limits, the worker
// registry and wake-ups on one Redis server (redis://[[user]:password@]host
// [:port][/db]) or a Redis Cluster (redis+cluster://h1:p1,h2:p2 or
// redis://h1:p1,h2:p2/?cluster=1); see common/redis/redis_client.h.
//
// Every multi-step change is one Lua script under lua/ (each states its
// KEYS, ARGV and return), and every time is Redis TIME, so processes on any
// machine agree. Keys: "popqueue:{<ns>}:" + lock:<name>, lockseq:<name>,
// rate:<key>, worker:<id>, workers (index), wake (channel). The hash tag
// {<ns>} keeps one namespace in one Redis Cluster slot; wake-ups are
// published through any master (cluster pub/sub reaches every node) and the
// subscriber moves to another master when its node dies.
//
// - Lock: a hash {owner, token} with PEXPIRE ttl; the token counter never
//   expires and tokens are max(last + 1, TIME in microseconds).
// - Rate limit: GCRA without burst (coord/gcra.h), state = one TAT string.
// - Registry: a hash per worker expiring after its ttl, plus a sorted set of
//   ids scored by expiry that WorkerList prunes.
// - Wake-ups: PUBLISH on the wake channel; one SUBSCRIBE connection per
//   coordinator (RedisSubscriber).
//
// Errors: kUnavailable while Redis cannot be reached (the client reconnects
// by itself on later calls; the coordinator never needs reopening).
// Durability: with appendfsync everysec a crash may lose the last second:
// locks taken then may reappear free (fencing tokens stay increasing).
//
// Thread-safety: safe for concurrent use.
#ifndef POPQUEUE_COORD_REDIS_REDIS_COORDINATOR_H_
#define POPQUEUE_COORD_REDIS_REDIS_COORDINATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis/redis_client.h"
#include "coord/coordinator.h"
#include "coord/redis/redis_subscriber.h"

namespace popqueue::coord {

class RedisCoordinator : public Coordinator {
 public:
  // `url`: redis://...; `ns`: key namespace (see OpenCoordinator).
  static absl::StatusOr<std::shared_ptr<RedisCoordinator>> Open(const std::string& url,
                                                                const std::string& ns);
  RedisCoordinator(std::shared_ptr<redis::Client> client, const std::string& ns);

  std::string_view Kind() const override { return "redis"; }

  absl::StatusOr<std::optional<Lock>> LockAcquire(const LockAcquireParams& params) override;
  absl::StatusOr<bool> LockExtend(const LockExtendParams& params) override;
  absl::Status LockRelease(const Lock& lock) override;

  absl::StatusOr<RateLimitDecision> RateLimitTake(const RateLimitTakeParams& params) override;

  absl::Status WorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status WorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status WorkerDeregister(const std::string& worker_id) override;
  absl::StatusOr<std::vector<WorkerInfo>> WorkerList() override;

  bool SupportsWake() const override { return true; }
  absl::Status WakePublish(const std::string& queue) override;
  absl::StatusOr<int> WakeSubscribe(std::function<void(const std::string& queue)> on_wake) override;
  void WakeUnsubscribe(int handle) override;

 private:
  std::string Key(const std::string& kind, const std::string& name) const;

  const std::shared_ptr<redis::Client> client_;
  const std::string prefix_;  // "popqueue:{<ns>}:"
  redis::Script lock_acquire_, lock_extend_, lock_release_, rate_limit_take_, worker_register_,
      worker_heartbeat_, worker_deregister_, worker_list_;
  RedisSubscriber subscriber_;
};

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_REDIS_REDIS_COORDINATOR_H_
