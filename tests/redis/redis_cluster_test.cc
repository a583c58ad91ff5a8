// The Redis store and coordinator on a real Redis Cluster (3 masters + 3
// replicas from scripts/lib/redis_cluster.sh): a collection whose slots sit
// on a master other than the first seed (the original MOVED bug), a queue's
// and a collection's slot migrated by hand while jobs are enqueued and
// claimed (ASK), and, in redis_cluster_failover_test (RUN_SERIAL), a master
// killed mid-use. redis_slot_test.cc checks the key layout itself.
//
// Redis Cluster has no test double here: every case runs against the
// cluster. Without POPQUEUE_TEST_REDIS_CLUSTER_URL they skip (fail in CI).
#include "tests/redis/redis_cluster_env.h"

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/redis/slot_map.h"
#include "gtest/gtest.h"
#include "store/redis/keys.h"
#include "store/registry.h"

namespace popqueue::testing {
namespace {

using redis::KeySlot;

TEST(RedisClusterUrlTest, ClusterUrlFormsAndTheirErrors) {
  auto o = redis::Options::FromUrl(*ParseUrl("redis://h1:7000,h2:7001/?cluster=1"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->cluster);
  ASSERT_EQ(o->seeds.size(), 2u);
  EXPECT_EQ(o->seeds[1].Endpoint(), "h2:7001");
  o = redis::Options::FromUrl(*ParseUrl("redis+cluster://h1,h2:7001?timeout_ms=300"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->cluster);
  EXPECT_EQ(o->seeds[0].Endpoint(), "h1:6379");
  EXPECT_EQ(o->command_timeout, absl::Milliseconds(300));
  o = redis::Options::FromUrl(*ParseUrl("redis://h:6379/3"));
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->cluster);
  EXPECT_EQ(o->db, 3);
  for (const char* bad :
       {"redis://h1:7000,h2:7001", "redis://h1,h2/?cluster=2", "redis+cluster://h1:7000/2"}) {
    auto r = redis::Options::FromUrl(*ParseUrl(bad));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ParseUrl("redis://h1:7000,,h2:7001/?cluster=1").ok());
  EXPECT_FALSE(ParseUrl("redis://h1:7000,h2:x/?cluster=1").ok());
  EXPECT_EQ(ParseUrl("redis://:pw@h1:1,h2:2/?cluster=1")->Redacted(),
            "redis://:***@h1:1,h2:2/?cluster=1");
}

TEST(RedisClusterUrlTest, RedirectsAndKeyPositions) {
  auto moved = redis::ParseRedirect("MOVED 9631 127.0.0.1:7001");
  ASSERT_TRUE(moved.has_value());
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 9631);
  EXPECT_EQ(moved->to.Endpoint(), "127.0.0.1:7001");
  auto ask = redis::ParseRedirect("ASK 1 ::1:7002");
  ASSERT_TRUE(ask.has_value());
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->to.host, "::1");
  EXPECT_FALSE(redis::ParseRedirect("MOVED x 1:2").has_value());
  EXPECT_FALSE(redis::ParseRedirect("ERR MOVED").has_value());
  EXPECT_EQ(redis::FirstKeyIndex({"HGET", "k", "f"}), 1u);
  EXPECT_EQ(redis::FirstKeyIndex({"EVALSHA", "abc", "1", "k"}), 3u);
  EXPECT_FALSE(redis::FirstKeyIndex({"EVALSHA", "abc", "0"}).has_value());
  EXPECT_FALSE(redis::FirstKeyIndex({"PUBLISH", "ch", "m"}).has_value());
  EXPECT_TRUE(redis::IsPerNodeCommand({"scan", "0"}));
}

// The original bug: `popqueue enqueue --db-url redis://127.0.0.1:7000
// --collection jobs` failed with MOVED when the slot of {jobs} sat on
// another master. A single-node URL now says what to write instead; the
// cluster URL works, even naming only the first seed.
TEST(RedisClusterTest, CollectionOnAnotherMasterThanTheFirstSeed) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  ClusterView view = ClusterView::Load();
  ASSERT_GE(view.masters.size(), 3u);
  const std::string first_seed = view.masters[0].Endpoint();
  const std::string collection = CollectionOn(view, 1, "elsewhere");
  ScopedKeys cleanup(collection);

  auto single =
      store::OpenStore({.url = absl::StrCat("redis://", first_seed), .collection = collection});
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(single.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(single.status().message().find("cluster=1"), std::string::npos) << single.status();

  for (const std::string& url :
       {RedisClusterUrl(), absl::StrCat("redis://", first_seed, "/?cluster=1"),
        absl::StrCat("redis+cluster://", first_seed)}) {
    auto db = store::OpenStore({.url = url, .collection = collection});
    ASSERT_TRUE(db.ok()) << url << ": " << db.status();
    Workload w(*db);
    ASSERT_TRUE(w.Enqueue(20).ok());
    ASSERT_TRUE(w.ClaimAndComplete(20).ok());
  }
  // Scripts are loaded per node: after SCRIPT FLUSH everywhere, NOSCRIPT
  // makes the slot's master load them again.
  ASSERT_TRUE(view.cluster->CommandOnEveryMaster({"SCRIPT", "FLUSH"}).ok());
  auto db = store::OpenStore({.url = RedisClusterUrl(), .collection = collection});
  ASSERT_TRUE(db.ok()) << db.status();
  Workload w(*db);
  ASSERT_TRUE(w.Enqueue(5).ok());
  ASSERT_TRUE(w.ClaimAndComplete(5).ok());
  EXPECT_EQ(w.completed(), 5);
  // The keys live on the master that owns their slots, not on the first seed.
  for (const std::string& tag : {store::redis_store::CollectionTag(collection),
                                 store::redis_store::QueueTag(collection, "q")}) {
    EXPECT_GT(view.CountKeysInSlot(1, KeySlot(tag)), 0) << tag;
  }
}

// The slots of a busy queue and of its collection migrated by hand
// (SETSLOT IMPORTING/MIGRATING, MIGRATE in batches of 10 keys as redis-cli
// --cluster reshard does, SETSLOT NODE), one after the other, while two
// threads enqueue and claim: commands follow ASK, scripts wait for their
// slot's migration to end (never run on the importing node, which would
// make second copies of keys: MIGRATE then fails with BUSYKEY), calls on
// the other slot go on meanwhile, and every acknowledged job is completed
// exactly once.
TEST(RedisClusterTest, HandMigrationOfABusyQueueAndCollectionLosesNothing) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  ClusterView view = ClusterView::Load();
  const std::string collection = CollectionOn(view, 2, "migrated");
  ScopedKeys cleanup(collection);
  const int queue_slot = KeySlot(store::redis_store::QueueTag(collection, "q"));
  const int collection_slot = KeySlot(store::redis_store::CollectionTag(collection));
  auto db = store::OpenStore({.url = RedisClusterUrl(), .collection = collection});
  ASSERT_TRUE(db.ok()) << db.status();
  Workload w(*db);
  ASSERT_TRUE(w.Enqueue(200).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread producer([&] {
    while (!stop) {
      if (!w.Enqueue(10).ok()) ++errors;
    }
  });
  std::thread consumer([&] {
    while (!stop) {
      if (!w.ClaimAndComplete(10).ok()) ++errors;
    }
  });
  absl::SleepFor(absl::Milliseconds(300));
  const size_t to = 0;  // masters[2] owns both slots; move them to masters[0]
  std::vector<int> slots = {queue_slot};
  if (collection_slot != queue_slot) slots.push_back(collection_slot);
  for (int slot : slots) {
    const int before = w.completed();
    const absl::Time t0 = absl::Now();
    absl::Status moved = view.MigrateSlot(slot, 2, to, absl::Milliseconds(400), 10);
    const int during = w.completed() - before;
    std::printf("migration of slot %d (%s) took %s; %d jobs completed meanwhile\n", slot,
                slot == queue_slot ? "queue" : "collection",
                absl::FormatDuration(absl::Now() - t0).c_str(), during);
    EXPECT_TRUE(moved.ok()) << moved;
    // Claims and completions touch only the queue's slot.
    if (slot != queue_slot) {
      EXPECT_GT(during, 0) << "claims stopped while the collection slot moved";
    }
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  producer.join();
  consumer.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_TRUE(w.Drain().ok());
  EXPECT_GT(w.completed(), 200);
  EXPECT_TRUE(w.AllAcknowledgedCompletedOnce()) << w.Report();
  for (int slot : slots) {
    EXPECT_GT(view.CountKeysInSlot(to, slot), 0);
    EXPECT_EQ(view.CountKeysInSlot(2, slot), 0);
    // Give the slot back, so the cluster keeps its shape for other tests.
    EXPECT_TRUE(view.MigrateSlot(slot, to, 2).ok());
  }
}

}  // namespace
}  // namespace popqueue::testing
