// The MongoDB store while its server goes away and comes back: calls during
// the downtime fail with kUnavailable within a bounded time (and name the
// host, never a password), the same Store works again once the server is
// back, with its data, and a Queue whose workers run through a restart
// completes every job exactly once. Runs on each server of mongo_test_util.h
// and needs its STOP/START/RESTART scripts (FerretDB and mongo-java-server,
// with its H2 backend, started by scripts/lib/services.sh); skipped against
// an external MongoDB.
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mongo_test_util.h"
#include "popqueue/queue.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {
namespace {

using ::popqueue::testing::FreshCollection;
using ::popqueue::testing::OpenOrDie;

using MongoStoreRestart = ::popqueue::testing::MongoServerTest;

TEST(MongoStoreUnreachable, UnreachableServerIsUnavailableQuickly) {
  // Nothing listens on port 1.
  const absl::Time start = absl::Now();
  auto store = OpenStore({.url = "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=500",
                          .db_name = "popqueue_test",
                          .collection = "jobs"});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  const std::string message(store.status().message());
  EXPECT_NE(message.find("127.0.0.1:1"), std::string::npos) << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;
}

TEST_P(MongoStoreRestart, UnavailableDuringDowntimeThenRecovers) {
  POPQUEUE_REQUIRE_MONGODB(url);
  const std::string stop = ServerEnv("STOP");
  const std::string start = ServerEnv("START");
  if (stop.empty() || start.empty()) {
    GTEST_SKIP() << "the server is external (MONGODB_URL): cannot restart it";
  }
  auto store = OpenOrDie(url, FreshCollection("restart"));
  ASSERT_NE(store, nullptr);
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store
                  ->JobInsertMany(
                      {.jobs = {{.id = 1, .queue = "q", .name = "n", .run_at = now}}, .now = now})
                  .ok());

  ASSERT_EQ(std::system(stop.c_str()), 0) << stop;
  const absl::Time down = absl::Now();
  auto get = store->JobGet({.id = 1});
  EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable) << get.status();
  auto claim = store->JobClaim({.queues = {"q"},
                                .worker_id = "w",
                                .limit = 1,
                                .now = now,
                                .lease = absl::Seconds(30),
                                .lease_token = 7});
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kUnavailable) << claim.status();
  // serverSelectionTimeoutMS defaults to 2000.
  EXPECT_LT(absl::Now() - down, absl::Seconds(10));

  ASSERT_EQ(std::system(start.c_str()), 0) << start;
  // The driver reconnects on its own; the first calls may still fail while
  // it rediscovers the server.
  absl::StatusOr<Job> back = absl::UnavailableError("not tried");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    back = store->JobGet({.id = 1});
    if (back.ok()) break;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kUnavailable) << back.status();
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->state, JobState::kAvailable);
  auto claimed = store->JobClaim({.queues = {"q"},
                                  .worker_id = "w",
                                  .limit = 1,
                                  .now = now,
                                  .lease = absl::Seconds(30),
                                  .lease_token = 7});
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->size(), 1u);
}

// Workers whose handlers outlive a heartbeat, with the server restarted under
// them: every job completes, each handler ran once (the restart is shorter
// than a lease, so no lease may be lost). Before the heartbeat's read-back
// compared times as stored, every job still running when a heartbeat came
// back was dropped as "lease lost", rescued and run again until dead.
TEST_P(MongoStoreRestart, QueueCompletesEveryJobOnceAcrossARestart) {
  POPQUEUE_REQUIRE_MONGODB(url);
  const std::string restart = ServerEnv("RESTART");
  if (restart.empty()) {
    GTEST_SKIP() << "the server is external (MONGODB_URL): cannot restart it";
  }
  constexpr int kJobs = 40;
  QueueConfig config{.db_url = url,
                     .db_name = "popqueue_test",
                     .collection = FreshCollection("restart_queue"),
                     .retries = 3};
  config.worker.default_concurrency = 8;
  config.worker.poll_interval = absl::Milliseconds(50);
  config.worker.lease = absl::Seconds(5);
  config.worker.heartbeat_interval = absl::Milliseconds(200);
  config.worker.rescue_interval = absl::Milliseconds(500);
  config.worker.leader_ttl = absl::Seconds(3);
  config.worker.retain_completed = absl::ZeroDuration();
  config.worker.shutdown_deadline = absl::Seconds(5);
  auto queue = Queue::Open(config);
  ASSERT_TRUE(queue.ok()) << queue.status();
  std::mutex mu;
  std::map<JobId, int> runs;  // guarded by mu
  ASSERT_TRUE((*queue)
                  ->Define("sleepy",
                           [&](const Job& job) {
                             {
                               std::lock_guard<std::mutex> lock(mu);
                               ++runs[job.id];
                             }
                             // Spans at least one heartbeat.
                             absl::SleepFor(
                                 absl::Milliseconds(300 + 50 * static_cast<int>(job.id % 7)));
                             return true;
                           })
                  .ok());
  for (int i = 0; i < kJobs; ++i) {
    auto r = (*queue)->Enqueue("sleepy", std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE((*queue)->StartInBackground().ok());
  auto completed = [&]() -> int64_t {
    auto counts = (*queue)->CountByState();
    if (!counts.ok()) return -1;  // the server is restarting
    int64_t n = 0;
    for (const QueueCounts& q : *counts) {
      auto it = q.by_state.find(JobState::kCompleted);
      if (it != q.by_state.end()) n += it->second;
    }
    return n;
  };
  // Restart once some jobs are done and others run.
  const absl::Time first_deadline = absl::Now() + absl::Seconds(30);
  while (completed() < 4 && absl::Now() < first_deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(std::system(restart.c_str()), 0) << restart;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  int64_t done = 0;
  while ((done = completed()) < kJobs && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  (*queue)->Stop();
  EXPECT_EQ(done, kJobs) << "jobs completed within 60 s of the restart";
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(runs.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, n] : runs) {
    EXPECT_EQ(n, 1) << "job " << id << " ran " << n << " times";
  }
}

POPQUEUE_MONGODB_SERVERS(MongoStoreRestart);

}  // namespace
}  // namespace popqueue::store
