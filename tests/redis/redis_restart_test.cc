// Really stops and starts redis-server (POPQUEUE_TEST_REDIS_STOP/START from
// scripts/with-services) in the middle of a workload run by popqueue::Queue:
// calls made while it is down return kUnavailable naming host:port, the same
// Queue carries on once it is back, and every job enqueued before, during
// (refused) and after the outage is completed; nothing acknowledged is lost
// (the server runs with appendfsync everysec and is stopped cleanly).
// Runs alone (RUN_SERIAL): it takes the shared server away from every test.
#include <atomic>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "redis_test_env.h"
#include "tests/support/test_util.h"

namespace popqueue::testing {
namespace {

using ::testing::HasSubstr;

int64_t Completed(Queue& q) {
  auto counts = q.CountByState();
  if (!counts.ok()) return -1;
  int64_t n = 0;
  for (const QueueCounts& c : *counts) {
    auto it = c.by_state.find(JobState::kCompleted);
    if (it != c.by_state.end()) n += it->second;
  }
  return n;
}

// Needs the commands that stop and start the test server: skips without
// them (fails in CI).
class RedisRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    POPQUEUE_REQUIRE_REDIS();
    stop_ = EnvOr("POPQUEUE_TEST_REDIS_STOP");
    start_ = EnvOr("POPQUEUE_TEST_REDIS_START");
    if (stop_.empty() || start_.empty()) {
      if (EnvOr("CI") == "true") FAIL() << "POPQUEUE_TEST_REDIS_STOP/START unset";
      GTEST_SKIP() << "POPQUEUE_TEST_REDIS_STOP/START unset: the server is not "
                      "ours to restart (run through scripts/with-services)";
    }
  }
  void StopServer() { ASSERT_EQ(std::system(stop_.c_str()), 0) << stop_; }
  void StartServer() { ASSERT_EQ(std::system(start_.c_str()), 0) << start_; }

  std::string stop_, start_;
};

TEST_F(RedisRestartTest, QueueSurvivesARedisRestartWithNothingLost) {
  auto url = ParseUrl(RedisUrl());
  ASSERT_TRUE(url.ok());
  const std::string host_port = absl::StrCat(url->host, ":", url->port);
  const std::string collection = UniqueCollection("restart");

  QueueConfig config{.db_url = RedisUrl(), .collection = collection, .retries = 5};
  config.worker.default_concurrency = 4;
  config.worker.poll_interval = absl::Milliseconds(50);
  config.worker.lease = absl::Seconds(3);
  config.worker.heartbeat_interval = absl::Milliseconds(500);
  config.worker.rescue_interval = absl::Milliseconds(500);
  config.worker.leader_ttl = absl::Seconds(2);
  config.worker.handle_signals = false;
  auto opened = Queue::Open(config);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Queue& queue = **opened;

  Mutex mu;
  std::set<std::string> done;  // payloads handled at least once
  ASSERT_TRUE(queue
                  .Define("work",
                          [&](const Job& job) {
                            absl::SleepFor(absl::Milliseconds(2));  // a little work
                            MutexLock lock(&mu);
                            done.insert(job.data);
                            return true;
                          })
                  .ok());
  int enqueued = 0;
  auto enqueue = [&]() {
    auto r = queue.Enqueue("work", absl::StrCat("job-", enqueued));
    if (r.ok()) ++enqueued;
    return r;
  };
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(enqueue().ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  {
    MutexLock lock(&mu);
    auto some = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done.size() >= 20; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&some), absl::Seconds(30)));
  }

  ASSERT_NO_FATAL_FAILURE(StopServer());
  auto refused = queue.Enqueue("work", "refused");
  ASSERT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(host_port));
  std::cout << "while down: " << refused.status() << "\n";
  auto counts = queue.CountByState();
  EXPECT_TRUE(absl::IsUnavailable(counts.status())) << counts.status();
  auto list = queue.ListJobs({.limit = 10});
  EXPECT_TRUE(absl::IsUnavailable(list.status())) << list.status();
  ASSERT_NO_FATAL_FAILURE(StartServer());

  // Back up: the same Queue reconnects (after at most the 2 s backoff).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  absl::StatusOr<EnqueueResult> again;
  do {
    again = enqueue();
    if (!again.ok()) absl::SleepFor(absl::Milliseconds(50));
  } while (!again.ok() && absl::Now() < deadline);
  ASSERT_TRUE(again.ok()) << again.status();
  for (int i = 0; i < 99; ++i) ASSERT_TRUE(enqueue().ok());
  ASSERT_EQ(enqueued, 300);

  // Every job completes: those in flight during the outage are acknowledged
  // late or rescued when their lease expires, and run again.
  const absl::Time all_deadline = absl::Now() + absl::Seconds(60);
  int64_t completed = 0;
  while (absl::Now() < all_deadline) {
    completed = Completed(queue);
    if (completed == 300) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  queue.Stop();
  EXPECT_EQ(completed, 300);
  {
    MutexLock lock(&mu);
    EXPECT_EQ(done.size(), 300u);
    EXPECT_EQ(done.count("refused"), 0u);
  }
  DeleteKeys(collection);
}

// A job that runs through an outage longer than its lease: its lease ran out
// in the store, but its worker is alive and renews it once the server is
// back. The rescuer, back too, waits one lease before rescuing, so the job
// runs once (it used to be rescued at once and run a second time).
TEST_F(RedisRestartTest, AJobRunningThroughAnOutageLongerThanItsLeaseRunsOnce) {
  const std::string collection = UniqueCollection("outage");
  QueueConfig config{.db_url = RedisUrl(), .collection = collection};
  config.worker.default_concurrency = 2;  // a free slot for a second run
  config.worker.poll_interval = absl::Milliseconds(50);
  config.worker.lease = absl::Seconds(3);
  config.worker.heartbeat_interval = absl::Seconds(1);
  config.worker.rescue_interval = absl::Milliseconds(100);
  config.worker.leader_ttl = absl::Seconds(2);
  config.worker.handle_signals = false;
  auto opened = Queue::Open(config);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Queue& queue = **opened;
  std::atomic<int> starts{0};
  Notification release;
  ASSERT_TRUE(queue
                  .Define("long",
                          [&](const Job&) {
                            ++starts;
                            release.WaitForNotificationWithTimeout(absl::Seconds(60));
                            return true;
                          })
                  .ok());
  auto job = queue.Enqueue("long", "");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(Eventually([&] { return starts == 1; }, absl::Seconds(10)));

  ASSERT_NO_FATAL_FAILURE(StopServer());
  absl::SleepFor(absl::Seconds(5));  // the lease (3 s) runs out meanwhile
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // Long enough for the reconnected worker to heartbeat, and for a rescuer
  // that did not wait to have returned the job and started it again.
  absl::SleepFor(absl::Seconds(4));
  EXPECT_EQ(starts, 1);
  release.Notify();
  ASSERT_TRUE(Eventually(
      [&] {
        auto j = queue.GetJob(job->id);
        return j.ok() && j->state == JobState::kCompleted;
      },
      absl::Seconds(20)));
  queue.Stop();
  EXPECT_EQ(starts, 1);
  DeleteKeys(collection);
}

}  // namespace
}  // namespace popqueue::testing
