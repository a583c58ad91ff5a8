// Conformance: the handler outcomes that reach the store as JobFailMany
// items (popqueue/outcome.h): a snooze (to scheduled, the attempt given
// back, no error) beside ordinary failures in one batch. Discard and
// fail-without-retry are the cancelled and dead items of lifecycle_test.cc.
#include <string>
#include <vector>

#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;

TEST_P(StoreConformanceTest, SnoozeSchedulesAgainWithoutUsingAnAttempt) {
  NewJob job = Job();
  job.max_attempts = 1;  // a snooze on the only attempt still runs again
  job.identifier = "snoozer";
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 7));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 1);
  const absl::Time wake = kT0 + absl::Minutes(5);
  EXPECT_FALSE(Fail(job.id, 8, JobState::kScheduled, wake, "", kT0 + absl::Seconds(1)));
  ASSERT_TRUE(Fail(job.id, 7, JobState::kScheduled, wake, "ignored", kT0 + absl::Seconds(1)));

  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kScheduled);
  EXPECT_EQ(got.run_at, wake);
  EXPECT_EQ(got.attempt, 0);
  EXPECT_TRUE(got.errors.empty());
  EXPECT_FALSE(got.finished_at.has_value());
  EXPECT_FALSE(got.lease_expires_at.has_value());
  // Still running as far as a stale worker is concerned? No: refused.
  EXPECT_FALSE(Fail(job.id, 7, JobState::kScheduled, wake, ""));
  EXPECT_FALSE(Complete(job.id, 7, kT0 + absl::Seconds(2)));
  // Not final: the identifier stays taken.
  NewJob dup = Job();
  dup.identifier = "snoozer";
  PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(dup));
  EXPECT_FALSE(r.inserted);
  EXPECT_EQ(r.id, job.id);

  // Due again at `wake`, not before; the claim counts attempt 1 again.
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, wake - absl::Seconds(1), 9));
  EXPECT_TRUE(claimed.empty());
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, wake, 9));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 1);
  EXPECT_TRUE(claimed[0].errors.empty());
  ASSERT_TRUE(Complete(job.id, 9, wake + absl::Seconds(1)));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kCompleted);
  EXPECT_EQ(got.attempt, 1);
}

TEST_P(StoreConformanceTest, SnoozeAfterFailuresKeepsTheirCount) {
  NewJob job = Job();
  job.max_attempts = 3;
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 1));
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Fail(job.id, 1, JobState::kRetryable, kT0 + absl::Seconds(10), "boom"));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, kT0 + absl::Seconds(10), 2));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 2);
  ASSERT_TRUE(Fail(job.id, 2, JobState::kScheduled, kT0 + absl::Seconds(20), ""));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].message, "boom");
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, kT0 + absl::Seconds(20), 3));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 2);
}

TEST_P(StoreConformanceTest, FailManyMixesSnoozesWithFailuresInParamsOrder) {
  std::vector<JobId> ids = InsertN(4);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 4, kT0, 5));
  ASSERT_EQ(claimed.size(), 4u);
  const absl::Time later = kT0 + absl::Minutes(1);
  PQ_ASSERT_OK_AND_ASSIGN(
      auto done,
      db().JobFailMany(
          {.items = {{.id = ids[0], .lease_token = 5, .to = JobState::kScheduled, .run_at = later},
                     {.id = ids[1], .lease_token = 5, .to = JobState::kDead, .error = "x"},
                     {.id = ids[2], .lease_token = 6, .to = JobState::kScheduled, .run_at = later},
                     {.id = ids[3], .lease_token = 5, .to = JobState::kCancelled, .error = "y"}},
           .now = kT0 + absl::Seconds(1)}));
  EXPECT_EQ(done, (std::vector<JobId>{ids[0], ids[1], ids[3]}));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job a, Get(ids[0]));
  EXPECT_EQ(a.state, JobState::kScheduled);
  EXPECT_EQ(a.attempt, 0);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job b, Get(ids[1]));
  EXPECT_EQ(b.state, JobState::kDead);
  ASSERT_EQ(b.errors.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job c, Get(ids[2]));
  EXPECT_EQ(c.state, JobState::kRunning);  // wrong token: untouched
  EXPECT_EQ(c.attempt, 1);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job d, Get(ids[3]));
  EXPECT_EQ(d.state, JobState::kCancelled);
  // Counts follow the moves.
  PQ_ASSERT_OK_AND_ASSIGN(auto counts, db().JobCountByState());
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].by_state[JobState::kScheduled], 1);
  EXPECT_EQ(counts[0].by_state[JobState::kRunning], 1);
}

}  // namespace
}  // namespace popqueue::conformance
