// Where each job lives: the directory C:dir (job id -> its queue's tag) in
// the collection slot, in front of which sits a bounded cache of the jobs
// this process claimed. Calls by id alone (complete, fail, heartbeat, get,
// requeue, cancel, delete) look the tag up here, then go to the queue's
// slot. A job's queue never changes, so a cached tag is never wrong while
// the job exists; the cache is dropped whole when it reaches kMaxCached.
//
// Thread-safe.
#ifndef POPQUEUE_STORE_REDIS_DIRECTORY_H_
#define POPQUEUE_STORE_REDIS_DIRECTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"
#include "popqueue/job.h"

namespace popqueue::store::redis_store {

class Directory {
 public:
  static constexpr size_t kMaxCached = 1 << 16;

  // `dir_key` is C:dir; `client` outlives the directory.
  Directory(redis::Client* client, std::string dir_key);

  // Caches where a job this process holds lives (after a claim).
  void Remember(JobId id, const std::string& tag);
  // Drops cached entries (the job finished or was deleted).
  void Forget(const std::vector<JobId>& ids);

  // The queue tag of each id (nullopt: no such job): cached ones without a
  // round trip, the rest with one HMGET of C:dir.
  absl::StatusOr<std::vector<std::optional<std::string>>> Lookup(const std::vector<JobId>& ids);
  // One id, always from C:dir (admin calls).
  absl::StatusOr<std::optional<std::string>> LookupUncached(JobId id);

 private:
  redis::Client* const client_;
  const std::string dir_key_;
  Mutex mu_;
  // Tags are interned: a cache entry is an index into tags_.
  std::vector<std::string> tags_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, uint32_t> tag_index_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<JobId, uint32_t> cached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::store::redis_store

#endif  // POPQUEUE_STORE_REDIS_DIRECTORY_H_
