// Outcomes a handler can ask for besides success and an ordinary failure.
//
// A context handler returns one of these statuses to say what becomes of the
// job (a `bool` handler cannot; returning false or throwing stays an
// ordinary failure):
//
//   queue.Define("sync", [](popqueue::JobContext& ctx) -> absl::Status {
//     if (RateLimited()) return popqueue::Snooze(absl::Minutes(1));
//     if (AccountGone(ctx.job().data)) return popqueue::Discard("account deleted");
//     if (!Parse(ctx.job().data)) return popqueue::FailWithoutRetry("bad payload");
//     return Sync(ctx.job().data);  // OK, or an ordinary (retried) failure
//   });
//
//   Snooze(d)            the job runs again after `d` and the attempt does not
//                        count: it goes to scheduled with run_at = now + d, its
//                        attempt counter is given back (attempt - 1) and no
//                        error is recorded. d is clamped to 0..366 days.
//   Discard(reason)      the job ends cancelled at once, with `reason` kept as
//                        its error, and is never retried.
//   FailWithoutRetry(e)  the job ends dead (the dead-letter queue) at once
//                        with the error `e`, whatever attempts remain.
//
// A cancel requested with Queue::Cancel wins over all three (the job ends
// cancelled), and a handler that ran past its timeout has failed by its
// timeout whatever it returns. The statuses are ordinary absl::Status values
// (codes kUnavailable, kCancelled and kFailedPrecondition) marked by a
// payload that ParseHandlerOutcome reads; any other status, including one
// that wraps their message in a new status, is an ordinary failure. Remote workers ask for the same
// outcomes through RemoteWorkerApi (popqueue/remote_worker.h) and gRPC.
#ifndef POPQUEUE_OUTCOME_H_
#define POPQUEUE_OUTCOME_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace popqueue {

absl::Status Snooze(absl::Duration delay);
absl::Status Discard(std::string_view reason);
absl::Status FailWithoutRetry(std::string_view error);

// What a handler's status asks for (the inverse of the functions above).
enum class HandlerOutcome {
  kSuccess,           // OK
  kFailure,           // any other status: retried while attempts remain
  kSnooze,            // Snooze(d)
  kDiscard,           // Discard(reason)
  kFailWithoutRetry,  // FailWithoutRetry(error)
};
struct ParsedOutcome {
  HandlerOutcome outcome = HandlerOutcome::kSuccess;
  absl::Duration snooze = absl::ZeroDuration();  // for kSnooze, >= 0
};
ParsedOutcome ParseHandlerOutcome(const absl::Status& status);

}  // namespace popqueue

#endif  // POPQUEUE_OUTCOME_H_
