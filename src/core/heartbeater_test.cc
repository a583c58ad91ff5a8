// The heartbeater over a real SQLite store: it extends the leases of the
// attempts in flight and writes their stop requests; an attempt whose lease
// the store no longer recognises is told to stop, finalized and dropped; a
// cancel in the store reaches the attempt; a handler past its deadline is
// asked to stop but keeps its lease, and past the grace it is reported
// overdue exactly once.
#include "core/heartbeater.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/support/sqlite_store_test.h"

namespace popqueue::core {
namespace {

using testing::Eventually;

class HeartbeaterTest : public testing::SqliteStoreTest {
 protected:
  void SetUp() override {
    SqliteStoreTest::SetUp();
    options_.heartbeat_interval = absl::Milliseconds(30);
    options_.lease = absl::Seconds(2);
    options_.stop_grace = absl::Milliseconds(150);
  }
  void TearDown() override {
    heartbeater_.reset();
    store_.reset();
  }

  // Inserts one job, claims it under `token` with the test's lease and puts
  // it in flight, started now with `timeout` (infinite: none).
  std::shared_ptr<Execution> Start(int64_t token,
                                   absl::Duration timeout = absl::InfiniteDuration()) {
    const JobId id = next_id_++;
    store::JobInsertManyParams insert{.now = absl::Now()};
    insert.jobs.push_back(store::NewJob{.id = id,
                                        .queue = "default",
                                        .name = "work",
                                        .max_attempts = 3,
                                        .run_at = absl::Now() - absl::Seconds(1)});
    EXPECT_TRUE(store_->JobInsertMany(insert).ok());
    auto claimed = store_->JobClaim({.queues = {"default"},
                                     .worker_id = "heartbeat-test",
                                     .limit = 1,
                                     .now = absl::Now(),
                                     .lease = options_.lease,
                                     .lease_token = token});
    EXPECT_TRUE(claimed.ok() && claimed->size() == 1u);
    if (!claimed.ok() || claimed->empty()) return nullptr;
    auto exec = std::make_shared<Execution>(claimed->front());
    exec->started_at = absl::Now();
    exec->deadline =
        exec->started_at + (timeout == absl::InfiniteDuration() ? absl::Hours(1) : timeout);
    in_flight_.Add(exec);
    return exec;
  }

  void StartHeartbeater() {
    heartbeater_ = std::make_unique<Heartbeater>(
        store_, Clock::Real(), &in_flight_, options_, "heartbeat-test",
        [this](const std::shared_ptr<Execution>&) { ++overdue_reports_; });
    heartbeater_->Start();
  }

  Job Get(JobId id) {
    auto job = store_->JobGet({.id = id});
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job{};
  }

  WorkerOptions options_;
  InFlight in_flight_;
  std::unique_ptr<Heartbeater> heartbeater_;
  std::atomic<int> overdue_reports_{0};
  JobId next_id_ = 5000;
};

TEST_F(HeartbeaterTest, ExtendsTheLeaseOfEveryAttemptInFlight) {
  std::vector<std::shared_ptr<Execution>> execs = {Start(11), Start(11), Start(11)};
  std::vector<absl::Time> first;
  for (const auto& e : execs) first.push_back(*Get(e->job.id).lease_expires_at);
  absl::SleepFor(absl::Milliseconds(20));
  execs[1]->progress = 40;
  StartHeartbeater();
  for (size_t i = 0; i < execs.size(); ++i) {
    EXPECT_TRUE(Eventually([&] { return *Get(execs[i]->job.id).lease_expires_at > first[i]; }))
        << "job " << i;
  }
  EXPECT_TRUE(Eventually([&] { return Get(execs[1]->job.id).progress == 40; }));
  for (const auto& e : execs) {
    EXPECT_EQ(e->stop(), StopReason::kNone);
    EXPECT_FALSE(e->finalized.load());
  }
  EXPECT_EQ(in_flight_.size(), 3u);
  EXPECT_EQ(overdue_reports_.load(), 0);
}

// The store rescued the job and another worker claimed it: this attempt
// must stop, and its outcome is not ours to record any more.
TEST_F(HeartbeaterTest, ALostLeaseStopsAndFinalizesTheAttempt) {
  std::shared_ptr<Execution> kept = Start(21);
  std::shared_ptr<Execution> lost = Start(22);
  // Expire the lease in the store's eyes and let another worker take it.
  auto rescued = store_->JobRescueExpired({.now = absl::Now() + absl::Minutes(1)});
  ASSERT_TRUE(rescued.ok()) << rescued.status();
  ASSERT_EQ(rescued->size(), 2u);
  auto again = store_->JobClaim({.queues = {"default"},
                                 .worker_id = "other",
                                 .limit = 2,
                                 .now = absl::Now() + absl::Minutes(1),
                                 .lease = absl::Minutes(5),
                                 .lease_token = 99});
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 2u);
  // `kept` is this worker's once more: it claims its job back under its
  // own token (as if the rescue had not reached it).
  ASSERT_TRUE(store_
                  ->JobFailMany({.items = {{.id = kept->job.id,
                                            .lease_token = 99,
                                            .to = JobState::kRetryable,
                                            .run_at = absl::Now() - absl::Seconds(1),
                                            .error = "handed back"}},
                                 .now = absl::Now()})
                  .ok());
  auto back = store_->JobClaim({.queues = {"default"},
                                .worker_id = "heartbeat-test",
                                .limit = 1,
                                .now = absl::Now(),
                                .lease = options_.lease,
                                .lease_token = 21});
  ASSERT_TRUE(back.ok() && back->size() == 1u);
  ASSERT_EQ(back->front().id, kept->job.id);
  StartHeartbeater();
  ASSERT_TRUE(Eventually([&] { return lost->finalized.load(); }));
  EXPECT_EQ(lost->stop(), StopReason::kLeaseLost);
  EXPECT_EQ(in_flight_.Find(lost->job.id), nullptr);
  EXPECT_EQ(Get(lost->job.id).lease_token, 99);
  // The other attempt is untouched.
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(kept->stop(), StopReason::kNone);
  EXPECT_FALSE(kept->finalized.load());
  EXPECT_NE(in_flight_.Find(kept->job.id), nullptr);
}

TEST_F(HeartbeaterTest, ACancelInTheStoreAsksTheHandlerToStopAndKeepsTheLease) {
  std::shared_ptr<Execution> exec = Start(31);
  StartHeartbeater();
  auto cancelled = store_->JobCancel({.id = exec->job.id, .now = absl::Now()});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_TRUE(Eventually([&] { return exec->stop() == StopReason::kCancelRequested; }));
  EXPECT_FALSE(exec->finalized.load());
  // Still running and heartbeated with the stop request, until it returns.
  ASSERT_TRUE(Eventually([&] {
    Job job = Get(exec->job.id);
    return job.stopping.has_value() && job.stopping->reason == "cancel";
  }));
  const absl::Time leased = *Get(exec->job.id).lease_expires_at;
  EXPECT_TRUE(Eventually([&] { return *Get(exec->job.id).lease_expires_at > leased; }));
  EXPECT_EQ(Get(exec->job.id).state, JobState::kRunning);
}

// At the deadline the handler is asked to stop; the attempt keeps its lease
// and shows the request; stop_grace later it is reported overdue, once.
TEST_F(HeartbeaterTest, ATimedOutHandlerIsAskedToStopThenReportedOverdueOnce) {
  std::shared_ptr<Execution> slow = Start(41, absl::Milliseconds(100));
  std::shared_ptr<Execution> fine = Start(41);
  StartHeartbeater();
  heartbeater_->Wake();
  ASSERT_TRUE(Eventually([&] { return slow->stop() == StopReason::kTimeout; }));
  const absl::Duration asked_after = *slow->stopping_since() - slow->started_at;
  EXPECT_GE(asked_after, absl::Milliseconds(100));
  EXPECT_LT(asked_after, absl::Seconds(1));
  EXPECT_FALSE(slow->finalized.load());
  ASSERT_TRUE(Eventually([&] { return slow->overdue.load(); }));
  EXPECT_GE(absl::Now() - *slow->stopping_since(), options_.stop_grace);
  ASSERT_TRUE(Eventually([&] {
    Job job = Get(slow->job.id);
    return job.stopping.has_value() && job.stopping->overdue;
  }));
  EXPECT_EQ(Get(slow->job.id).stopping->reason, "timeout");
  absl::SleepFor(absl::Milliseconds(200));  // several more beats
  EXPECT_EQ(overdue_reports_.load(), 1);
  EXPECT_EQ(Get(slow->job.id).state, JobState::kRunning);
  EXPECT_EQ(fine->stop(), StopReason::kNone);
}

}  // namespace
}  // namespace popqueue::core
