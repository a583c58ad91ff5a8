// When a failed job is tried again.
#ifndef POPQUEUE_CORE_RETRY_POLICY_H_
#define POPQUEUE_CORE_RETRY_POLICY_H_

#include "absl/time/time.h"
#include "popqueue/job.h"
#include "popqueue/options.h"
#include "popqueue/outcome.h"

namespace popqueue::core {

// The delay before attempt `attempt + 1`, after `attempt` (>= 1) failed:
// min(cap, base * multiplier^(attempt-1)), of which the fraction `jitter` is
// randomized downwards: delay * (1 - jitter * u), u uniform in [0, 1).
// `base_override` (> 0) replaces policy.base (a job's own backoff option).
// `u` is injectable for tests; pass a negative value to draw it at random.
absl::Duration RetryDelay(const RetryPolicy& policy, int attempt,
                          absl::Duration base_override = absl::ZeroDuration(), double u = -1);

// Where a failed attempt of `job` goes: the one failure policy of the
// library's own workers (runtime.cc) and of remote workers (remote_worker.cc).
// `outcome` is what the handler asked for (popqueue/outcome.h):
//   cancelled          a cancel was requested: kCancelled, whatever it asked;
//   kDiscard           kCancelled, never retried;
//   kSnooze            kScheduled at now + outcome.snooze (the store gives
//                      the attempt back: store::JobFailItem);
//   kFailWithoutRetry  kDead at once;
//   otherwise          kDead when the job used its last attempt, else
//                      kRetryable at now + RetryDelay(policy, job.attempt,
//                      job.backoff_base).
// `run_at` is meaningful for kRetryable and kScheduled only (now for the
// others).
struct FailureDecision {
  JobState to;
  absl::Time run_at;
};
FailureDecision DecideFailure(const RetryPolicy& policy, const Job& job, bool cancelled,
                              const ParsedOutcome& outcome, absl::Time now, double u = -1);

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_RETRY_POLICY_H_
