#include "core/retry_policy.h"

#include "gtest/gtest.h"

namespace popqueue::core {
namespace {

TEST(RetryDelay, ExponentialWithoutJitter) {
  RetryPolicy p{.base = absl::Seconds(1), .multiplier = 2, .cap = absl::Hours(1), .jitter = 0};
  EXPECT_EQ(RetryDelay(p, 1, absl::ZeroDuration(), 0.5), absl::Seconds(1));
  EXPECT_EQ(RetryDelay(p, 2, absl::ZeroDuration(), 0.5), absl::Seconds(2));
  EXPECT_EQ(RetryDelay(p, 5, absl::ZeroDuration(), 0.5), absl::Seconds(16));
}

TEST(RetryDelay, CappedAndNeverOverflows) {
  RetryPolicy p{.base = absl::Seconds(1), .multiplier = 2, .cap = absl::Minutes(10), .jitter = 0};
  EXPECT_EQ(RetryDelay(p, 20, absl::ZeroDuration(), 0), absl::Minutes(10));
  EXPECT_EQ(RetryDelay(p, 100000, absl::ZeroDuration(), 0), absl::Minutes(10));
}

TEST(RetryDelay, JitterOnlyShortens) {
  RetryPolicy p{.base = absl::Seconds(10), .multiplier = 2, .cap = absl::Hours(1), .jitter = 0.5};
  EXPECT_EQ(RetryDelay(p, 1, absl::ZeroDuration(), 0), absl::Seconds(10));
  EXPECT_EQ(RetryDelay(p, 1, absl::ZeroDuration(), 1), absl::Seconds(5));
  for (int i = 0; i < 1000; ++i) {
    absl::Duration d = RetryDelay(p, 1);
    EXPECT_GE(d, absl::Seconds(5));
    EXPECT_LE(d, absl::Seconds(10));
  }
}

TEST(RetryDelay, JobBaseOverridesPolicy) {
  RetryPolicy p{.base = absl::Seconds(10), .multiplier = 3, .cap = absl::Hours(1), .jitter = 0};
  EXPECT_EQ(RetryDelay(p, 2, absl::Milliseconds(100), 0), absl::Milliseconds(300));
}

TEST(DecideFailure, CancelledWinsOverAttemptsLeft) {
  Job job;
  job.attempt = 1;
  job.max_attempts = 5;
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, /*cancelled=*/true, /*retry=*/true, now).to,
            JobState::kCancelled);
}

TEST(DecideFailure, DeadWhenFinalOrOutOfAttempts) {
  Job job;
  job.attempt = 2;
  job.max_attempts = 5;
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, false, /*retry=*/false, now).to, JobState::kDead);
  job.attempt = 5;
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, false, /*retry=*/true, now).to, JobState::kDead);
}

TEST(DecideFailure, RetryableAfterTheJobsOwnBackoff) {
  RetryPolicy policy{.base = absl::Seconds(1), .multiplier = 2, .cap = absl::Hours(1), .jitter = 0};
  Job job;
  job.attempt = 3;
  job.max_attempts = 5;
  const absl::Time now = absl::FromUnixSeconds(1000);
  FailureDecision d = DecideFailure(policy, job, false, true, now, /*u=*/0);
  EXPECT_EQ(d.to, JobState::kRetryable);
  EXPECT_EQ(d.run_at, now + absl::Seconds(4));
  job.backoff_base = absl::Seconds(10);
  EXPECT_EQ(DecideFailure(policy, job, false, true, now, 0).run_at, now + absl::Seconds(40));
}

}  // namespace
}  // namespace popqueue::core
