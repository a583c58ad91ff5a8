#include "core/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace popqueue::core {

absl::Duration RetryDelay(const RetryPolicy& policy, int attempt, absl::Duration base_override,
                          double u) {
  if (u < 0) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }
  absl::Duration base = base_override > absl::ZeroDuration() ? base_override : policy.base;
  int exponent = std::max(0, attempt - 1);
  // Compute in double seconds and clamp before converting, so large attempt
  // counts saturate at the cap instead of overflowing.
  double seconds =
      absl::ToDoubleSeconds(base) * std::pow(std::max(1.0, policy.multiplier), exponent);
  double cap = absl::ToDoubleSeconds(policy.cap);
  if (!std::isfinite(seconds) || seconds > cap) seconds = cap;
  double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  seconds *= 1.0 - jitter * std::clamp(u, 0.0, 1.0);
  return absl::Seconds(std::max(0.0, seconds));
}

FailureDecision DecideFailure(const RetryPolicy& policy, const Job& job, bool cancelled,
                              const ParsedOutcome& outcome, absl::Time now, double u) {
  if (cancelled) return {.to = JobState::kCancelled, .run_at = now};
  switch (outcome.outcome) {
    case HandlerOutcome::kDiscard: return {.to = JobState::kCancelled, .run_at = now};
    case HandlerOutcome::kSnooze:
      return {.to = JobState::kScheduled,
              .run_at = now + std::max(outcome.snooze, absl::ZeroDuration())};
    case HandlerOutcome::kFailWithoutRetry: return {.to = JobState::kDead, .run_at = now};
    case HandlerOutcome::kSuccess:
    case HandlerOutcome::kFailure: break;
  }
  if (job.attempt >= job.max_attempts) return {.to = JobState::kDead, .run_at = now};
  return {.to = JobState::kRetryable,
          .run_at = now + RetryDelay(policy, job.attempt, job.backoff_base, u)};
}

}  // namespace popqueue::core
