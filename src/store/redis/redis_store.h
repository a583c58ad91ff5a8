// The Redis job store (redis:// database URLs). See redis_store.cc for the
// design essay and docs/redis-store.md for the data layout, the scripts and
// the durability each AOF setting gives.
//
// Every multi-key change is one Lua script (lua/*.lua, embedded at build
// time), so each is atomic; every value is a bound script argument. All keys
// of one store start with the hash tag "{<collection>}" and so live in one
// Redis Cluster slot.
//
// Thread-safe: calls share a connection pool (common/redis/redis_client.h);
// wake-ups come from one SUBSCRIBE connection (redis_listener.h).
#ifndef POPQUEUE_STORE_REDIS_REDIS_STORE_H_
#define POPQUEUE_STORE_REDIS_REDIS_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/redis/redis_client.h"
#include "common/url.h"
#include "store/redis/redis_listener.h"
#include "store/redis/scripts.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {

// redis://[[user]:password@]host[:port][/db][?timeout_ms=&connect_timeout_ms=
// &pool_size=], or a Redis Cluster: redis://h1:p1,h2:p2/?cluster=1 or
// redis+cluster://h1:p1,h2:p2 (common/redis/redis_client.h). Keys are prefixed "{<config.collection>}:"; db_name is not
// used (the URL path selects the database number). Runs Migrate().
absl::StatusOr<std::shared_ptr<Store>> OpenRedisStore(const Url& url,
                                                      const StoreConfig& config);

namespace redis_store {

class RedisStore : public Store {
 public:
  static absl::StatusOr<std::shared_ptr<RedisStore>> Open(
      const Url& url, const StoreConfig& config);
  RedisStore(std::shared_ptr<redis::Client> client, const std::string& prefix);

  // "{<prefix>}": the hash tag that starts every key of this store.
  const std::string& tag() const { return tag_; }
  redis::Client& client() { return *client_; }

  absl::Status Migrate() override;

  absl::StatusOr<JobInsertManyResult> JobInsertMany(
      const JobInsertManyParams& params) override;
  absl::StatusOr<JobClaimResult> JobClaim(const JobClaimParams& params) override;
  absl::StatusOr<JobIdList> JobCompleteMany(
      const JobCompleteManyParams& params) override;
  absl::StatusOr<JobIdList> JobFailMany(const JobFailManyParams& params) override;
  absl::StatusOr<JobHeartbeatManyResult> JobHeartbeatMany(
      const JobHeartbeatManyParams& params) override;
  absl::StatusOr<int> JobRescueExpired(
      const JobRescueExpiredParams& params) override;

  absl::StatusOr<Job> JobGet(const JobGetParams& params) override;
  absl::StatusOr<Job> JobRequeue(const JobRequeueParams& params) override;
  absl::StatusOr<Job> JobCancel(const JobCancelParams& params) override;
  absl::Status JobDelete(const JobDeleteParams& params) override;
  absl::StatusOr<JobPage> JobList(const JobListParams& params) override;
  absl::StatusOr<std::vector<QueueCounts>> JobCountByState() override;
  absl::StatusOr<int> JobDeleteFinishedBefore(
      const JobDeleteFinishedBeforeParams& params) override;

  absl::Status QueuePause(const QueueNameParams& params) override;
  absl::Status QueueResume(const QueueNameParams& params) override;
  absl::StatusOr<std::vector<QueueInfo>> QueueList() override;

  absl::StatusOr<bool> LeaderAttemptElect(
      const LeaderAttemptElectParams& params) override;
  absl::Status LeaderResign(const LeaderResignParams& params) override;

  absl::Status WorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status WorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status WorkerDeregister(const WorkerDeregisterParams& params) override;
  absl::StatusOr<std::vector<WorkerInfo>> WorkerList(
      const WorkerListParams& params) override;

  absl::StatusOr<bool> CronFireOnce(const CronFireOnceParams& params) override;

  bool SupportsNotify() const override { return true; }
  absl::StatusOr<int> Subscribe(
      std::function<void(const std::string& queue)> on_available) override;
  void Unsubscribe(int handle) override;

 private:
  // Runs a job script: KEYS = {tag:all}, ARGV = {tag, args...}.
  absl::StatusOr<redis::Reply> RunJobScript(const redis::Script& script,
                                            std::vector<std::string> args);
  std::string Key(std::string_view kind) const;
  std::string Key(std::string_view kind, std::string_view name) const;

  const std::shared_ptr<redis::Client> client_;
  const std::string tag_;
  const Scripts scripts_;
  Listener listener_;
};

// Appends the 10 values lua/lib.lua insert_job reads for `job`.
void AppendNewJobArgs(const NewJob& job, std::vector<std::string>* args);
// Jobs from an array of HGETALL replies.
absl::StatusOr<std::vector<Job>> JobsFromReplies(const redis::Reply& reply);

}  // namespace redis_store
}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_REDIS_REDIS_STORE_H_
