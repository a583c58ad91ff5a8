// Helpers of the Redis Cluster tests: the cluster's masters as the client
// sees them (CLUSTER SLOTS order), collections (and a queue) placed on a
// chosen master,
// a hand slot migration, and a workload that records what was acknowledged.
#ifndef POPQUEUE_TESTS_REDIS_REDIS_CLUSTER_ENV_H_
#define POPQUEUE_TESTS_REDIS_REDIS_CLUSTER_ENV_H_

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"
#include "common/redis/slot_map.h"
#include "gtest/gtest.h"
#include "store/redis/keys.h"
#include "store/store.h"
#include "tests/redis/redis_test_env.h"

namespace popqueue::testing {

inline std::shared_ptr<redis::Client> ClientOf(const std::string& url) {
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) return nullptr;
  auto client = redis::Client::Connect(*parsed);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *client : nullptr;
}

struct ClusterView {
  std::shared_ptr<redis::Client> cluster;
  redis::SlotMap map;
  std::vector<redis::NodeAddress> masters;            // map order
  std::vector<std::shared_ptr<redis::Client>> nodes;  // one per master

  // The test cluster, or the one at `url` (a cluster of a test's own).
  static ClusterView Load(const std::string& url = RedisClusterUrl()) {
    ClusterView v;
    v.cluster = ClientOf(url);
    if (v.cluster == nullptr) return v;
    auto slots = v.cluster->Command({"CLUSTER", "SLOTS"});
    EXPECT_TRUE(slots.ok()) << slots.status();
    if (!slots.ok()) return v;
    auto map = redis::ParseClusterSlots(*slots, v.cluster->options().seeds[0]);
    EXPECT_TRUE(map.ok()) << map.status();
    if (!map.ok()) return v;
    v.map = *map;
    v.masters = map->masters;
    for (const redis::NodeAddress& m : v.masters) {
      v.nodes.push_back(ClientOf(absl::StrCat("redis://", m.Endpoint())));
    }
    return v;
  }

  int OwnerOf(int slot) const { return map.owner[slot]; }

  int64_t CountKeysInSlot(size_t master, int slot) const {
    auto r = nodes[master]->Command({"CLUSTER", "COUNTKEYSINSLOT", absl::StrCat(slot)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->integer : -1;
  }

  // Moves `slot` from masters[from] to masters[to] the way redis-cli
  // --cluster reshard does: `batch` keys per MIGRATE (0 = all at once).
  // `pause` is spent after MIGRATING is set (the source still holds the
  // keys), after each batch (the keys are on both nodes), and after the
  // keys moved but before SETSLOT NODE (the source answers ASK).
  absl::Status MigrateSlot(int slot, size_t from, size_t to,
                           absl::Duration pause = absl::ZeroDuration(), int batch = 0) const {
    auto id = [&](size_t i) -> absl::StatusOr<std::string> {
      auto r = nodes[i]->Command({"CLUSTER", "MYID"});
      if (!r.ok()) return r.status();
      return r->str;
    };
    auto from_id = id(from);
    auto to_id = id(to);
    if (!from_id.ok()) return from_id.status();
    if (!to_id.ok()) return to_id.status();
    const std::string s = absl::StrCat(slot);
    if (auto r = nodes[to]->Command({"CLUSTER", "SETSLOT", s, "IMPORTING", *from_id}); !r.ok()) {
      return r.status();
    }
    if (auto r = nodes[from]->Command({"CLUSTER", "SETSLOT", s, "MIGRATING", *to_id}); !r.ok()) {
      return r.status();
    }
    absl::SleepFor(pause);
    const std::string count = batch > 0 ? absl::StrCat(batch) : "100000";
    int rounds = 0;
    while (true) {
      auto keys = nodes[from]->Command({"CLUSTER", "GETKEYSINSLOT", s, count});
      if (!keys.ok()) return keys.status();
      if (keys->elements.empty()) break;
      std::vector<std::string> migrate = {
          "MIGRATE", masters[to].host, absl::StrCat(masters[to].port), "", "0", "10000", "KEYS"};
      for (const redis::Reply& k : keys->elements) migrate.push_back(k.str);
      if (auto r = nodes[from]->Command(migrate); !r.ok()) return r.status();
      // A few pauses mid-way (keys on both nodes); not one per batch.
      if (batch > 0 && ++rounds <= 3) absl::SleepFor(pause / 4);
    }
    absl::SleepFor(pause);
    for (size_t i : {to, from}) {
      if (auto r = nodes[i]->Command({"CLUSTER", "SETSLOT", s, "NODE", *to_id}); !r.ok()) {
        return r.status();
      }
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (i == to || i == from) continue;
      (void)nodes[i]->Command({"CLUSTER", "SETSLOT", s, "NODE", *to_id});
    }
    return absl::OkStatus();
  }
};

// A fresh collection name whose collection slot and the slot of its queue
// `queue` (Workload's "q" by default) masters[master] serves.
inline std::string CollectionOn(const ClusterView& view, size_t master, const std::string& prefix,
                                const std::string& queue = "q") {
  for (int i = 0;; ++i) {
    std::string name = absl::StrCat(UniqueCollection(prefix), "_", i);
    const int want = static_cast<int>(master);
    if (view.OwnerOf(redis::KeySlot(store::redis_store::CollectionTag(name))) == want &&
        view.OwnerOf(redis::KeySlot(store::redis_store::QueueTag(name, queue))) == want) {
      return name;
    }
  }
}

// Deletes the collection's keys on every master when it goes out of scope.
class ScopedKeys {
 public:
  explicit ScopedKeys(std::string collection) : collection_(std::move(collection)) {}
  ~ScopedKeys() {
    auto client = ClientOf(RedisClusterUrl());
    if (client == nullptr) return;
    for (const std::string& key : KeysOf(*client, collection_)) {
      (void)client->Command({"UNLINK", key});
    }
  }

 private:
  std::string collection_;
};

// Enqueues, claims and completes jobs of queue "q", remembering every id
// whose enqueue was acknowledged and how often each id was completed.
// Thread-safe.
class Workload {
 public:
  explicit Workload(std::shared_ptr<store::Store> db) : db_(std::move(db)) {}

  absl::Status Enqueue(int n) {
    store::JobInsertManyParams p{.now = absl::Now()};
    for (int i = 0; i < n; ++i) {
      p.jobs.push_back(
          {.id = ids_.Next(p.now), .queue = "q", .name = "t", .max_attempts = 3, .run_at = p.now});
    }
    auto r = db_->JobInsertMany(p);
    if (!r.ok()) return r.status();
    MutexLock lock(&mu_);
    for (const store::NewJob& j : p.jobs) acked_.insert(j.id);
    return absl::OkStatus();
  }

  // Claims and completes until `max` jobs were done or none is due.
  // `skew` moves the injected clock (a late drain rescues expired leases).
  absl::Status ClaimAndComplete(int max, absl::Duration skew = absl::ZeroDuration()) {
    int done = 0;
    while (done < max) {
      const absl::Time now = absl::Now() + skew;
      const int64_t token = static_cast<int64_t>(RandomToken() >> 1);
      auto jobs = db_->JobClaim({.queues = {"q"},
                                 .worker_id = "w",
                                 .limit = std::min(50, max - done),
                                 .now = now,
                                 .lease = absl::Seconds(30),
                                 .lease_token = token});
      if (!jobs.ok()) return jobs.status();
      if (jobs->empty()) return absl::OkStatus();
      store::JobCompleteManyParams c{.now = now};
      for (const Job& j : *jobs) c.items.push_back({.id = j.id, .lease_token = token});
      auto completed = db_->JobCompleteMany(c);
      if (!completed.ok()) return completed.status();
      MutexLock lock(&mu_);
      for (JobId id : *completed) ++completed_[id];
      done += static_cast<int>(jobs->size());
    }
    return absl::OkStatus();
  }

  // Rescues leases that a failed call may have left, then completes the rest.
  absl::Status Drain() {
    auto rescued = db_->JobRescueExpired({.now = absl::Now() + absl::Minutes(5)});
    if (!rescued.ok()) return rescued.status();
    return ClaimAndComplete(1 << 30, absl::Minutes(5));
  }

  int completed() {
    MutexLock lock(&mu_);
    return static_cast<int>(completed_.size());
  }

  bool AllAcknowledgedCompletedOnce() {
    MutexLock lock(&mu_);
    for (JobId id : acked_) {
      auto it = completed_.find(id);
      if (it == completed_.end() || it->second != 1) return false;
    }
    for (const auto& [id, n] : completed_) {
      if (n != 1) return false;
    }
    return true;
  }

  std::string Report() {
    MutexLock lock(&mu_);
    int missing = 0, twice = 0;
    for (JobId id : acked_) {
      auto it = completed_.find(id);
      if (it == completed_.end()) ++missing;
    }
    for (const auto& [id, n] : completed_) twice += n > 1 ? 1 : 0;
    return absl::StrCat(acked_.size(), " acknowledged, ", completed_.size(), " completed, ",
                        missing, " acknowledged but not completed, ", twice,
                        " completed more than once");
  }

 private:
  const std::shared_ptr<store::Store> db_;
  IdGenerator ids_;
  Mutex mu_;
  std::set<JobId> acked_ ABSL_GUARDED_BY(mu_);
  std::map<JobId, int> completed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_REDIS_REDIS_CLUSTER_ENV_H_
