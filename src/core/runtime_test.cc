// The worker runtime over a real SQLite store: every job runs once and a
// queue's concurrency is never exceeded; failures follow the one failure
// policy (retry, then dead; a name without a handler fails); Stop() keeps
// its deadline and releases a handler that ignores the stop request for
// another attempt, saying so in the job's error.
#include "core/runtime.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/sqlite_store_test.h"

namespace popqueue::core {
namespace {

using testing::Eventually;
using ::testing::HasSubstr;

class RuntimeTest : public testing::SqliteStoreTest {
 protected:
  RuntimeTest() {
    options_.poll_interval = absl::Milliseconds(20);
    options_.heartbeat_interval = absl::Milliseconds(100);
    options_.retry.base = absl::Milliseconds(1);
    options_.retry.jitter = 0;
    options_.handle_signals = false;
    options_.shutdown_deadline = absl::Seconds(5);
  }

  void Insert(int n, const std::string& name, int max_attempts = 3) {
    store::JobInsertManyParams insert{.now = absl::Now()};
    for (int i = 0; i < n; ++i) {
      insert.jobs.push_back(store::NewJob{.id = next_id_++,
                                          .queue = "default",
                                          .name = name,
                                          .data = std::to_string(i),
                                          .max_attempts = max_attempts,
                                          .run_at = absl::Now() - absl::Seconds(1)});
    }
    ASSERT_TRUE(store_->JobInsertMany(insert).ok());
  }

  std::unique_ptr<Runtime> Start(std::map<std::string, ContextHandler> handlers,
                                 std::vector<EventListener> listeners = {}) {
    auto runtime = std::make_unique<Runtime>(RuntimeParams{.store = store_,
                                                           .clock = Clock::Real(),
                                                           .options = options_,
                                                           .worker_id = "runtime-test",
                                                           .handlers = std::move(handlers),
                                                           .listeners = std::move(listeners)});
    absl::Status started = runtime->Start();
    EXPECT_TRUE(started.ok()) << started;
    return runtime;
  }

  int64_t Count(JobState state) {
    auto counts = store_->JobCountByState();
    EXPECT_TRUE(counts.ok()) << counts.status();
    if (!counts.ok()) return -1;
    int64_t n = 0;
    for (const auto& q : *counts) {
      auto it = q.by_state.find(state);
      if (it != q.by_state.end()) n += it->second;
    }
    return n;
  }

  Job Get(JobId id) {
    auto job = store_->JobGet({.id = id});
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job{};
  }

  WorkerOptions options_;
  JobId next_id_ = 1000;
};

TEST_F(RuntimeTest, RunsEveryJobOnceWithinItsQueuesConcurrency) {
  options_.concurrency["default"] = 3;
  Insert(60, "work");
  Mutex mu;
  std::map<std::string, int> runs;
  std::atomic<int> now_running{0}, most{0};
  auto runtime = Start({{"work", [&](JobContext& ctx) -> absl::Status {
                           const int n = ++now_running;
                           int seen = most.load();
                           while (n > seen && !most.compare_exchange_weak(seen, n)) {
                           }
                           absl::SleepFor(absl::Milliseconds(3));
                           --now_running;
                           MutexLock lock(&mu);
                           ++runs[ctx.job().data];
                           return absl::OkStatus();
                         }}});
  ASSERT_TRUE(Eventually([&] { return Count(JobState::kCompleted) == 60; }));
  runtime->Stop();
  MutexLock lock(&mu);
  EXPECT_EQ(runs.size(), 60u);
  for (const auto& [data, n] : runs) EXPECT_EQ(n, 1) << "job " << data;
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
}

TEST_F(RuntimeTest, FailuresFollowTheRetryPolicyAndUnknownNamesFail) {
  Insert(1, "flaky", /*max_attempts=*/2);
  Insert(1, "nobody-handles-this", /*max_attempts=*/1);
  Mutex mu;
  std::map<JobEvent::Kind, int> events;
  auto runtime =
      Start({{"flaky",
              [](JobContext& ctx) -> absl::Status {
                return absl::UnavailableError("down, attempt " + std::to_string(ctx.job().attempt));
              }}},
            {[&](const JobEvent& e) {
              MutexLock lock(&mu);
              ++events[e.kind];
            }});
  ASSERT_TRUE(Eventually([&] { return Count(JobState::kDead) == 2; }));
  runtime->Stop();

  Job flaky = Get(1000);
  EXPECT_EQ(flaky.state, JobState::kDead);
  EXPECT_EQ(flaky.attempt, 2);
  ASSERT_EQ(flaky.errors.size(), 2u);
  EXPECT_EQ(flaky.errors[0].message, "down, attempt 1");
  EXPECT_EQ(flaky.errors[1].message, "down, attempt 2");

  Job orphan = Get(1001);
  EXPECT_EQ(orphan.state, JobState::kDead);
  ASSERT_EQ(orphan.errors.size(), 1u);
  EXPECT_THAT(orphan.errors[0].message, HasSubstr("no handler defined for job name"));

  MutexLock lock(&mu);
  EXPECT_EQ(events[JobEvent::Kind::kStarted], 3);
  EXPECT_EQ(events[JobEvent::Kind::kRetrying], 1);
  EXPECT_EQ(events[JobEvent::Kind::kDead], 2);
}

TEST_F(RuntimeTest, StopKeepsItsDeadlineAndReleasesAHandlerThatIgnoresIt) {
  options_.shutdown_deadline = absl::Seconds(1);
  options_.stop_grace = absl::Milliseconds(200);
  Insert(1, "deaf", /*max_attempts=*/3);
  // Outlives the test body: the abandoned handler returns after Stop().
  auto started = std::make_shared<absl::Notification>();
  auto let_go = std::make_shared<absl::Notification>();
  auto runtime = Start({{"deaf", [started, let_go](JobContext&) -> absl::Status {
                           started->Notify();
                           let_go->WaitForNotificationWithTimeout(absl::Seconds(30));
                           return absl::OkStatus();
                         }}});
  ASSERT_TRUE(started->WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time before = absl::Now();
  runtime->Stop();
  const absl::Duration took = absl::Now() - before;
  EXPECT_LT(took, absl::Seconds(3)) << "Stop() took " << took;

  Job job = Get(1000);
  EXPECT_EQ(job.state, JobState::kRetryable) << "released for another attempt";
  ASSERT_FALSE(job.errors.empty());
  EXPECT_THAT(job.errors.back().message, HasSubstr("released by runtime-test"));
  EXPECT_THAT(job.errors.back().message, HasSubstr("after it was asked to stop"));
  let_go->Notify();
  runtime.reset();
}

}  // namespace
}  // namespace popqueue::core
