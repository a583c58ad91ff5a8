// A master of the test cluster SIGKILLed mid-use (POPQUEUE_TEST_REDIS_CLUSTER_
// KILL): until its replica takes over (about 1-2 cluster-node-timeouts),
// calls on its slots fail with kUnavailable within timeout_ms, never hang;
// then the same store and coordinator work again without reopening, with
// every job acknowledged (and replicated, WAIT) before the kill, and wake-ups
// resume. The node is started again and the test waits for the cluster to
// be whole (3 masters + 3 replicas) before it ends. RUN_SERIAL: it disturbs
// every other cluster test.
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "coord/coordinator.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/redis/redis_cluster_env.h"

namespace popqueue::testing {
namespace {

int Shell(const std::string& command) { return std::system(command.c_str()); }

TEST(RedisClusterFailoverTest, KilledMasterIsReplacedWithoutReopening) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  const std::string kill = EnvOr("POPQUEUE_TEST_REDIS_CLUSTER_KILL");
  const std::string start = EnvOr("POPQUEUE_TEST_REDIS_CLUSTER_START");
  const std::string wait = EnvOr("POPQUEUE_TEST_REDIS_CLUSTER_WAIT");
  ASSERT_FALSE(kill.empty() || start.empty() || wait.empty());
  ClusterView view = ClusterView::Load();
  ASSERT_EQ(view.masters.size(), 3u);
  // masters[0] is also where the coordinator's subscriber connects first.
  const std::string collection = CollectionOn(view, 0, "failover");
  ScopedKeys cleanup(collection);
  const std::string url = absl::StrCat(RedisClusterUrl(), "&timeout_ms=1000");
  auto db = store::OpenStore({.url = url, .collection = collection});
  ASSERT_TRUE(db.ok()) << db.status();
  auto coord = coord::OpenCoordinator(url, collection);
  ASSERT_TRUE(coord.ok()) << coord.status();
  Mutex mu;
  std::set<std::string> woken;
  auto handle = (*coord)->WakeSubscribe([&](const std::string& q) {
    MutexLock lock(&mu);
    woken.insert(q);
  });
  ASSERT_TRUE(handle.ok());
  std::set<std::string> available;  // the store's own wake-ups (T:available)
  auto store_handle = (*db)->Subscribe([&](const std::string& q) {
    MutexLock lock(&mu);
    available.insert(q);
  });
  ASSERT_TRUE(store_handle.ok()) << store_handle.status();

  Workload w(*db);
  ASSERT_TRUE(w.Enqueue(100).ok());
  // Redis replicates asynchronously: only what the replica has is kept.
  auto replicated = view.nodes[0]->Command({"WAIT", "1", "2000"});
  ASSERT_TRUE(replicated.ok() && replicated->integer == 1) << replicated.status();

  const int port = view.masters[0].port;
  ASSERT_EQ(Shell(absl::StrCat(kill, " ", port)), 0);
  const absl::Time killed = absl::Now();
  int unavailable = 0;
  absl::Status last;
  while (absl::Now() - killed < absl::Seconds(60)) {
    const absl::Time t0 = absl::Now();
    last = w.Enqueue(1);
    const absl::Duration took = absl::Now() - t0;
    EXPECT_LT(took, absl::Milliseconds(1000 + 2500)) << last;  // timeout_ms + connect
    if (last.ok()) break;
    EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
    if (unavailable++ == 0) std::printf("refused: %s\n", last.ToString().c_str());
  }
  ASSERT_TRUE(last.ok()) << "no failover within 60 s: " << last;
  std::printf(
      "failover: first enqueue accepted %s after the kill (%d calls "
      "refused meanwhile)\n",
      absl::FormatDuration(absl::Now() - killed).c_str(), unavailable);
  EXPECT_GT(unavailable, 0);

  ASSERT_TRUE(w.Drain().ok());
  EXPECT_TRUE(w.AllAcknowledgedCompletedOnce()) << w.Report();

  // Wake-ups: the subscriber was on the killed node and subscribed again.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool got = false;
  while (!got && absl::Now() < deadline) {
    (void)(*coord)->WakePublish("after-failover");
    absl::SleepFor(absl::Milliseconds(100));
    MutexLock lock(&mu);
    got = woken.count("after-failover") > 0;
  }
  EXPECT_TRUE(got) << "no wake-up after the failover";
  (*coord)->WakeUnsubscribe(*handle);
  {
    MutexLock lock(&mu);
    available.clear();
  }
  got = false;
  while (!got && absl::Now() < deadline + absl::Seconds(10)) {
    ASSERT_TRUE(w.Enqueue(1).ok());
    absl::SleepFor(absl::Milliseconds(100));
    MutexLock lock(&mu);
    got = available.count("q") > 0;
  }
  EXPECT_TRUE(got) << "the store's listener did not subscribe again";
  (*db)->Unsubscribe(*store_handle);

  ASSERT_EQ(Shell(absl::StrCat(start, " ", port)), 0);
  ASSERT_EQ(Shell(absl::StrCat(wait, " 90")), 0);
}

}  // namespace
}  // namespace popqueue::testing
