// The completer over a real SQLite store: every outcome stored once, in
// batches of at most max_batch; events only after the write; an outcome
// whose lease was lost is not stored and raises no event; Stop() flushes
// what is pending however long the flush interval.
#include "core/completer.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/support/sqlite_store_test.h"

namespace popqueue::core {
namespace {

class CompleterTest : public testing::SqliteStoreTest {
 protected:
  // Inserts `n` jobs and claims them under `token`; returns them running.
  std::vector<Job> InsertAndClaim(int n, int64_t token, int max_attempts = 3) {
    store::JobInsertManyParams insert{.now = absl::Now()};
    for (int i = 0; i < n; ++i) {
      insert.jobs.push_back(store::NewJob{.id = next_id_++,
                                          .queue = "default",
                                          .name = "work",
                                          .data = "job-" + std::to_string(i),
                                          .max_attempts = max_attempts,
                                          .run_at = absl::Now() - absl::Seconds(1)});
    }
    EXPECT_TRUE(store_->JobInsertMany(insert).ok());
    std::vector<Job> running;
    while (static_cast<int>(running.size()) < n) {
      auto claimed =
          store_->JobClaim({.queues = {"default"},
                            .worker_id = "completer-test",
                            .limit = std::min(1000, n - static_cast<int>(running.size())),
                            .now = absl::Now(),
                            .lease = absl::Seconds(30),
                            .lease_token = token});
      EXPECT_TRUE(claimed.ok()) << claimed.status();
      if (!claimed.ok() || claimed->empty()) break;
      running.insert(running.end(), claimed->begin(), claimed->end());
    }
    return running;
  }

  Job Get(JobId id) {
    auto job = store_->JobGet({.id = id});
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job{};
  }

  JobId next_id_ = 1000;
  InFlight in_flight_;
};

TEST_F(CompleterTest, StoresEveryOutcomeOnceThenEmits) {
  std::vector<Job> jobs = InsertAndClaim(2500, 7);
  ASSERT_EQ(jobs.size(), 2500u);
  Mutex mu;
  std::map<JobId, int> events;
  std::atomic<int> not_durable{0};
  Completer completer(store_, Clock::Real(), &in_flight_, absl::Milliseconds(20),
                      /*max_batch=*/1000, [&](const JobEvent& e) {
                        // An event means the outcome is stored.
                        auto stored = store_->JobGet({.id = e.job.id});
                        if (!stored.ok() || stored->state != JobState::kCompleted) ++not_durable;
                        MutexLock lock(&mu);
                        ++events[e.job.id];
                      });
  completer.Start();
  for (const Job& job : jobs) {
    auto exec = std::make_shared<Execution>(job);
    in_flight_.Add(exec);
    completer.Add(Outcome{.exec = exec, .to = JobState::kCompleted, .result = "r" + job.data});
  }
  for (int i = 0; i < 500 && in_flight_.size() > 0; ++i) absl::SleepFor(absl::Milliseconds(20));
  completer.Stop(absl::Seconds(5));
  EXPECT_EQ(in_flight_.size(), 0u) << "a stored outcome leaves the in-flight set";
  EXPECT_EQ(not_durable.load(), 0);
  {
    MutexLock lock(&mu);
    EXPECT_EQ(events.size(), 2500u);
    for (const auto& [id, n] : events) EXPECT_EQ(n, 1) << "job " << id;
  }
  for (int i : {0, 999, 1000, 2499}) {
    Job stored = Get(jobs[i].id);
    EXPECT_EQ(stored.state, JobState::kCompleted);
    EXPECT_EQ(stored.result, "r" + jobs[i].data);
  }
}

TEST_F(CompleterTest, FailuresBecomeRetryableDeadOrCancelledWithTheirError) {
  std::vector<Job> jobs = InsertAndClaim(3, 8);
  ASSERT_EQ(jobs.size(), 3u);
  Mutex mu;
  std::vector<JobEvent::Kind> kinds;
  Completer completer(store_, Clock::Real(), &in_flight_, absl::Milliseconds(10), 1000,
                      [&](const JobEvent& e) {
                        MutexLock lock(&mu);
                        kinds.push_back(e.kind);
                      });
  completer.Start();
  const absl::Time later = absl::Now() + absl::Hours(1);
  const JobState to[] = {JobState::kRetryable, JobState::kDead, JobState::kCancelled};
  for (int i = 0; i < 3; ++i) {
    auto exec = std::make_shared<Execution>(jobs[i]);
    in_flight_.Add(exec);
    completer.Add(
        Outcome{.exec = exec, .to = to[i], .run_at = later, .error = "boom " + std::to_string(i)});
  }
  completer.Stop(absl::Seconds(5));
  for (int i = 0; i < 3; ++i) {
    Job stored = Get(jobs[i].id);
    EXPECT_EQ(stored.state, to[i]);
    ASSERT_EQ(stored.errors.size(), 1u);
    EXPECT_EQ(stored.errors[0].message, "boom " + std::to_string(i));
  }
  EXPECT_GE(absl::ToUnixMicros(Get(jobs[0].id).run_at), absl::ToUnixMicros(later) - 1000);
  MutexLock lock(&mu);
  EXPECT_THAT(kinds,
              ::testing::UnorderedElementsAre(JobEvent::Kind::kRetrying, JobEvent::Kind::kDead,
                                              JobEvent::Kind::kCancelled));
}

TEST_F(CompleterTest, AnOutcomeWhoseLeaseWasLostIsNotStored) {
  std::vector<Job> jobs = InsertAndClaim(1, 9, /*max_attempts=*/3);
  ASSERT_EQ(jobs.size(), 1u);
  // The lease expires, the rescuer makes the job retryable and another
  // worker claims it under a new token.
  auto rescued = store_->JobRescueExpired({.now = absl::Now() + absl::Minutes(1)});
  ASSERT_TRUE(rescued.ok());
  ASSERT_EQ(rescued->size(), 1u);
  auto again = store_->JobClaim({.queues = {"default"},
                                 .worker_id = "other",
                                 .limit = 1,
                                 .now = absl::Now() + absl::Minutes(1),
                                 .lease = absl::Seconds(30),
                                 .lease_token = 10});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  std::atomic<int> events{0};
  Completer completer(store_, Clock::Real(), &in_flight_, absl::Milliseconds(10), 1000,
                      [&](const JobEvent&) { ++events; });
  completer.Start();
  auto exec = std::make_shared<Execution>(jobs[0]);  // the old lease, token 9
  in_flight_.Add(exec);
  completer.Add(Outcome{.exec = exec, .to = JobState::kCompleted, .result = "late"});
  completer.Stop(absl::Seconds(5));
  Job stored = Get(jobs[0].id);
  EXPECT_EQ(stored.state, JobState::kRunning);
  EXPECT_EQ(stored.lease_token, 10);
  EXPECT_EQ(stored.worker_id, "other");
  EXPECT_EQ(events.load(), 0) << "no event for an outcome that was refused";
  EXPECT_EQ(in_flight_.size(), 0u);
}

TEST_F(CompleterTest, StopFlushesWhatIsPendingWithoutWaitingForTheInterval) {
  std::vector<Job> jobs = InsertAndClaim(10, 11);
  ASSERT_EQ(jobs.size(), 10u);
  Completer completer(store_, Clock::Real(), &in_flight_, absl::Hours(1), 1000, nullptr);
  completer.Start();
  for (const Job& job : jobs) {
    auto exec = std::make_shared<Execution>(job);
    in_flight_.Add(exec);
    completer.Add(Outcome{.exec = exec, .to = JobState::kCompleted});
  }
  const absl::Time t0 = absl::Now();
  completer.Stop(absl::Seconds(5));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  for (const Job& job : jobs) EXPECT_EQ(Get(job.id).state, JobState::kCompleted);
}

}  // namespace
}  // namespace popqueue::core
