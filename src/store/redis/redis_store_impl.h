// RedisStore: the Store on Redis or a Redis Cluster. Private to
// src/store/redis; the rest of the library opens it through OpenRedisStore
// (redis_store.h). See redis_store.cc for the design essay and
// docs/redis-store.md for the data layout, the scripts and the durability
// each AOF setting gives.
//
// Every multi-key change is one Lua script (lua/*.lua, embedded at build
// time), so each is atomic; every value is a bound script argument. A
// queue's jobs and indexes share the hash tag "{<collection>:<queue>}" (one
// Redis Cluster slot per queue); the collection-wide keys (directory,
// identifier reservations, queue set, leadership, workers) share
// "{<collection>}" (keys.h).
//
// Thread-safe: calls share a connection pool (common/redis/redis_client.h);
// wake-ups come from one SUBSCRIBE connection (redis_listener.h).
#ifndef POPQUEUE_STORE_REDIS_REDIS_STORE_IMPL_H_
#define POPQUEUE_STORE_REDIS_REDIS_STORE_IMPL_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"
#include "common/url.h"
#include "store/redis/directory.h"
#include "store/redis/redis_listener.h"
#include "store/redis/scripts.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store::redis_store {

class RedisStore : public Store {
 public:
  // The key layout version recorded in C:meta (2: a slot per queue).
  static constexpr int kSchemaVersion = 2;
  // How long an insert waits for the job named by an identifier
  // reservation to appear before revoking it (its inserter may have died
  // between the two steps; docs/redis-store.md).
  static constexpr absl::Duration kInsertGrace = absl::Seconds(1);
  // Rounds of reservation before an insert or requeue gives up (kAborted):
  // each round needs another process to have revoked or taken over.
  static constexpr int kMaxRounds = 8;

  static absl::StatusOr<std::shared_ptr<RedisStore>> Open(const Url& url,
                                                          const StoreConfig& config);
  RedisStore(std::shared_ptr<redis::Client> client, const std::string& prefix);

  // "{<prefix>}": the hash tag of the collection slot.
  const std::string& tag() const { return tag_; }
  // "{<prefix>:<queue>}": the hash tag of a queue's slot (keys.h).
  std::string QueueTag(std::string_view queue) const;
  redis::Client& client() { return *client_; }

  bool SupportsNotify() const override { return true; }

 protected:
  absl::Status DoMigrate() override;

  absl::StatusOr<JobInsertManyResult> DoJobInsertMany(const JobInsertManyParams& params) override;
  absl::StatusOr<JobClaimResult> DoJobClaim(const JobClaimParams& params) override;
  absl::StatusOr<JobIdList> DoJobCompleteMany(const JobCompleteManyParams& params) override;
  absl::StatusOr<JobIdList> DoJobFailMany(const JobFailManyParams& params) override;
  absl::StatusOr<JobHeartbeatManyResult> DoJobHeartbeatMany(
      const JobHeartbeatManyParams& params) override;
  absl::StatusOr<JobRescueExpiredResult> DoJobRescueExpired(
      const JobRescueExpiredParams& params) override;

  absl::StatusOr<Job> DoJobGet(const JobGetParams& params) override;
  absl::StatusOr<Job> DoJobRequeue(const JobRequeueParams& params) override;
  absl::StatusOr<Job> DoJobCancel(const JobCancelParams& params) override;
  absl::Status DoJobDelete(const JobDeleteParams& params) override;
  absl::StatusOr<JobPage> DoJobList(const JobListParams& params) override;
  absl::StatusOr<std::vector<QueueCounts>> DoJobCountByState() override;
  absl::StatusOr<int> DoJobDeleteFinishedBefore(
      const JobDeleteFinishedBeforeParams& params) override;

  absl::Status DoQueuePause(const QueueNameParams& params) override;
  absl::Status DoQueueResume(const QueueNameParams& params) override;
  absl::StatusOr<std::vector<QueueInfo>> DoQueueList() override;
  absl::StatusOr<QueueOldestDueResult> DoQueueOldestDue(
      const QueueOldestDueParams& params) override;

  absl::StatusOr<bool> DoLeaderAttemptElect(const LeaderAttemptElectParams& params) override;
  absl::Status DoLeaderResign(const LeaderResignParams& params) override;

  absl::Status DoWorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status DoWorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status DoWorkerDeregister(const WorkerDeregisterParams& params) override;
  absl::StatusOr<std::vector<WorkerInfo>> DoWorkerList(const WorkerListParams& params) override;

  absl::StatusOr<bool> DoCronFireOnce(const CronFireOnceParams& params) override;
  absl::Status DoWorkflowInsert(const WorkflowInsertParams& params,
                                const std::vector<WorkflowRow>& rows) override;
  absl::StatusOr<std::vector<Job>> DoWorkflowGet(const WorkflowGetParams& params) override;

  absl::StatusOr<int> DoSubscribe(
      std::function<void(const std::string& queue)> on_available) override;
  void DoUnsubscribe(int handle) override;

  bool SupportsCrossQueueWorkflows() const override { return false; }

 private:
  // An identifier reservation of C:uniq, "<id>|<token>|<Q>" (lua/lib.lua).
  struct Reservation {
    std::string raw;
    std::string id;  // IdKey
    std::string token;
    std::string tag;  // the holder's queue
  };
  struct Holder {
    bool live = false;  // a non-final job holds the identifier
    std::string state;  // its state, when live
  };
  struct TakeItem {
    std::string identifier, expected, id, tag;  // expected: raw entry or ""
  };
  struct Taken {
    bool ok = false;
    std::string token;  // ok: the new reservation's token
    std::string held;   // !ok: the entry found instead
  };
  struct Pending;  // redis_insert.cc

  // Runs a job script in the slot of `tag`: KEYS = {ProbeKey(tag)}, ARGV =
  // {collection tag, args...}.
  absl::StatusOr<redis::Reply> Run(const redis::Script& script, const std::string& tag,
                                   std::vector<std::string> args);
  // Index groups of `tags` that may share one script call (keys.h).
  std::vector<std::vector<size_t>> Groups(const std::vector<std::string>& tags) const;
  std::string Key(std::string_view kind) const;
  std::string Key(std::string_view kind, std::string_view name) const;
  // Every queue of the collection (C:queues), sorted, and their tags.
  absl::StatusOr<std::vector<std::string>> QueueNames();
  absl::StatusOr<std::vector<std::string>> AllQueueTags();
  // Counts and pause flags of every queue of C:queues, by name.
  absl::StatusOr<std::vector<QueueInfo>> QueueStats();
  // The queue tag of job `id` from C:dir; kNotFound for unknown ids.
  absl::StatusOr<std::string> TagOf(JobId id);
  // The names this process has not yet added to C:queues.
  std::vector<std::string> Unregistered(const std::vector<std::string>& names);
  void MarkRegistered(const std::vector<std::string>& names);

  // Inserting (redis_insert.cc): one fused script on a single node; on a
  // cluster, rounds of reservation (collection slot) and insert (queues'
  // slots).
  absl::StatusOr<JobInsertManyResult> InsertFused(const JobInsertManyParams& params);
  absl::StatusOr<JobInsertManyResult> InsertSplit(const JobInsertManyParams& params);
  absl::Status ReserveRound(const std::vector<NewJob>& jobs, const std::vector<size_t>& todo,
                            bool retry, std::vector<Pending>* pending, std::vector<size_t>* again);
  absl::StatusOr<bool> CronFireSplit(const CronFireOnceParams& params);

  // Identifier reservations on a cluster (redis_insert.cc).
  static absl::StatusOr<Reservation> ParseReservation(std::string raw);
  // Whether each reservation's job holds its identifier (revoking it where
  // not); waits up to kInsertGrace for holders that do not exist yet.
  absl::StatusOr<std::vector<Holder>> CheckHolders(const std::vector<Reservation>& held);
  absl::StatusOr<std::vector<Taken>> TakeReservations(const std::vector<TakeItem>& items);
  // A fresh reservation of `identifier` for job `id` of `tag` (requeue):
  // its token, or kFailedPrecondition naming the live holder.
  absl::StatusOr<std::string> ReserveFor(const std::string& identifier, JobId id,
                                         const std::string& tag);
  // Drops C:dir entries and own reservations of (id, identifier) pairs.
  absl::Status ForgetJobs(const std::vector<std::pair<std::string, std::string>>& jobs);

  // Deletes layout 2's Q:st:running indexes once per collection.
  absl::Status DropRunningIndex();
  // Complete/fail with `script`: job_*_many.lua, or workflow_*_many.lua for
  // workflow parents (the dependants' step in the same script).
  absl::StatusOr<JobIdList> CompleteItems(const redis::Script& script,
                                          const JobCompleteManyParams& params);
  absl::StatusOr<JobIdList> FailItems(const redis::Script& script, const JobFailManyParams& params);
  // Runs `run(part, workflow)` on the plain items and on the items with
  // dependants (each part only when non-empty); ids in params order.
  template <typename Params, typename Fn>
  static absl::StatusOr<JobIdList> SplitByDependants(const Params& params, Fn run) {
    Params plain{.now = params.now}, parents{.now = params.now};
    for (const auto& item : params.items) {
      (item.has_dependants ? parents : plain).items.push_back(item);
    }
    if (parents.items.empty()) return run(params, false);
    std::set<JobId> done;
    for (const Params* part : {&plain, &parents}) {
      if (part->items.empty()) continue;
      absl::StatusOr<JobIdList> ids = run(*part, part == &parents);
      if (!ids.ok()) return ids.status();
      done.insert(ids->begin(), ids->end());
    }
    JobIdList out;
    for (const auto& item : params.items) {
      if (done.count(item.id)) out.push_back(item.id);
    }
    return out;
  }

  // Claims from one group of queues; `peek`: only the best members.
  absl::StatusOr<redis::Reply> ClaimGroup(const JobClaimParams& params,
                                          const std::vector<std::string>& names,
                                          const std::vector<std::string>& tags,
                                          const std::vector<size_t>& group, int limit, bool peek);
  // The jobs a claim of `group` took ({id, pair index, ...}, the script's
  // reply), read with one pipeline of HGETALLs in claim order. A job
  // changed hands or deleted between the two steps is left out.
  absl::StatusOr<std::vector<Job>> ReadClaimed(const JobClaimParams& params,
                                               const std::vector<std::string>& tags,
                                               const std::vector<size_t>& group,
                                               const redis::Reply& claimed);

  const std::shared_ptr<redis::Client> client_;
  const std::string collection_;
  const std::string tag_;
  // A single node: scripts may touch the collection slot's keys along with
  // the queues' (lua/lib.lua "fused"), and one call may span all queues.
  const bool fused_;
  const Scripts scripts_;
  Directory directory_;
  Listener listener_;
  Mutex mu_;
  std::set<std::string> registered_ ABSL_GUARDED_BY(mu_);
};

// Appends the JOB_FIELDS (11) values lua/lib.lua insert_job reads for
// `job`, with reservation token `token`.
void AppendNewJobArgs(const NewJob& job, const std::string& token, std::vector<std::string>* args);
// Jobs from an array of HGETALL replies.
absl::StatusOr<std::vector<Job>> JobsFromReplies(const redis::Reply& reply);

}  // namespace popqueue::store::redis_store

#endif  // POPQUEUE_STORE_REDIS_REDIS_STORE_IMPL_H_
