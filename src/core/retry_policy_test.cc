#include "core/retry_policy.h"

#include "absl/strings/cord.h"
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

const ParsedOutcome kRetry{.outcome = HandlerOutcome::kFailure};
const ParsedOutcome kNoRetry{.outcome = HandlerOutcome::kFailWithoutRetry};

TEST(DecideFailure, CancelledWinsOverAttemptsLeft) {
  Job job;
  job.attempt = 1;
  job.max_attempts = 5;
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, /*cancelled=*/true, kRetry, now).to,
            JobState::kCancelled);
}

TEST(DecideFailure, DeadWhenFinalOrOutOfAttempts) {
  Job job;
  job.attempt = 2;
  job.max_attempts = 5;
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, false, kNoRetry, now).to, JobState::kDead);
  job.attempt = 5;
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, false, kRetry, now).to, JobState::kDead);
}

TEST(DecideFailure, RetryableAfterTheJobsOwnBackoff) {
  RetryPolicy policy{.base = absl::Seconds(1), .multiplier = 2, .cap = absl::Hours(1), .jitter = 0};
  Job job;
  job.attempt = 3;
  job.max_attempts = 5;
  const absl::Time now = absl::FromUnixSeconds(1000);
  FailureDecision d = DecideFailure(policy, job, false, kRetry, now, /*u=*/0);
  EXPECT_EQ(d.to, JobState::kRetryable);
  EXPECT_EQ(d.run_at, now + absl::Seconds(4));
  job.backoff_base = absl::Seconds(10);
  EXPECT_EQ(DecideFailure(policy, job, false, kRetry, now, 0).run_at, now + absl::Seconds(40));
}

TEST(DecideFailure, HandlerOutcomes) {
  Job job;
  job.attempt = 5;
  job.max_attempts = 5;  // the last attempt: a snooze still runs again
  const absl::Time now = absl::FromUnixSeconds(1000);
  FailureDecision d =
      DecideFailure(RetryPolicy{}, job, false, ParseHandlerOutcome(Snooze(absl::Minutes(2))), now);
  EXPECT_EQ(d.to, JobState::kScheduled);
  EXPECT_EQ(d.run_at, now + absl::Minutes(2));
  d = DecideFailure(RetryPolicy{}, job, false, ParseHandlerOutcome(Snooze(-absl::Minutes(2))), now);
  EXPECT_EQ(d.to, JobState::kScheduled);
  EXPECT_EQ(d.run_at, now);
  job.attempt = 1;
  EXPECT_EQ(DecideFailure(RetryPolicy{}, job, false, ParseHandlerOutcome(Discard("gone")), now).to,
            JobState::kCancelled);
  EXPECT_EQ(
      DecideFailure(RetryPolicy{}, job, false, ParseHandlerOutcome(FailWithoutRetry("bad")), now)
          .to,
      JobState::kDead);
  // A cancel request wins over a snooze.
  EXPECT_EQ(
      DecideFailure(RetryPolicy{}, job, true, ParseHandlerOutcome(Snooze(absl::Seconds(1))), now)
          .to,
      JobState::kCancelled);
}

TEST(ParseHandlerOutcome, MarksAndCodes) {
  EXPECT_EQ(ParseHandlerOutcome(absl::OkStatus()).outcome, HandlerOutcome::kSuccess);
  EXPECT_EQ(ParseHandlerOutcome(absl::UnavailableError("x")).outcome, HandlerOutcome::kFailure);
  ParsedOutcome s = ParseHandlerOutcome(Snooze(absl::Milliseconds(1500)));
  EXPECT_EQ(s.outcome, HandlerOutcome::kSnooze);
  EXPECT_EQ(s.snooze, absl::Milliseconds(1500));
  EXPECT_EQ(Discard("account gone").message(), "discarded: account gone");
  EXPECT_EQ(ParseHandlerOutcome(Discard("")).outcome, HandlerOutcome::kDiscard);
  EXPECT_EQ(FailWithoutRetry("bad payload").message(), "bad payload");
  EXPECT_EQ(ParseHandlerOutcome(FailWithoutRetry("x")).outcome, HandlerOutcome::kFailWithoutRetry);
  // The mark on a status of another code is not an outcome.
  absl::Status other = absl::InternalError("boom");
  other.SetPayload("type.popqueue.dev/popqueue.HandlerOutcome", absl::Cord("discard"));
  EXPECT_EQ(ParseHandlerOutcome(other).outcome, HandlerOutcome::kFailure);
}

}  // namespace
}  // namespace popqueue::core
