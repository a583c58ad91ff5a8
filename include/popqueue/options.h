// Options for enqueueing jobs and for running a Queue.
#ifndef POPQUEUE_OPTIONS_H_
#define POPQUEUE_OPTIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace popqueue {

inline constexpr char kDefaultQueue[] = "default";

// Per-job options; every field is optional and falls back to the Queue's
// defaults. `run_at` and `delay` are exclusive (InvalidArgument if both set).
struct EnqueueOptions {
  std::string queue;       // "" = kDefaultQueue
  std::string identifier;  // unique key among non-final jobs; "" = none
  int priority = 0;        // lower runs first
  std::optional<absl::Time> run_at;
  std::optional<absl::Duration> delay;
  std::optional<int> max_attempts;         // default: Queue retries + 1
  std::optional<absl::Duration> timeout;   // handler time limit
  std::optional<absl::Duration> backoff_base;  // first retry delay
};

// Exponential backoff with full jitter between retries:
//   delay(attempt) = min(cap, base * multiplier^(attempt-1)) * (1 - jitter*U[0,1))
struct RetryPolicy {
  absl::Duration base = absl::Seconds(1);
  double multiplier = 2.0;
  absl::Duration cap = absl::Hours(1);
  double jitter = 0.2;  // fraction of the delay that is randomized, 0..1
};

// How a Queue runs its workers. Defaults suit a small service.
struct WorkerOptions {
  // Concurrency per queue name; queues not listed use `default_concurrency`.
  std::map<std::string, int> concurrency;
  int default_concurrency = 10;
  // Queues this process works; empty = {kDefaultQueue}.
  std::vector<std::string> queues;
  std::string worker_id;  // "" = host-pid-random
  absl::Duration poll_interval = absl::Seconds(1);
  absl::Duration lease = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration default_timeout = absl::Minutes(5);
  absl::Duration completer_flush = absl::Milliseconds(2);
  int completer_batch = 500;
  absl::Duration rescue_interval = absl::Seconds(5);
  absl::Duration leader_ttl = absl::Seconds(15);
  // On Stop(): how long in-flight handlers get to finish before their jobs are
  // released for another attempt.
  absl::Duration shutdown_deadline = absl::Seconds(25);
  // Retention of finished jobs, applied by the leader's cleaner (0 = keep).
  absl::Duration retain_completed = absl::Hours(24);
  absl::Duration retain_cancelled = absl::Hours(24 * 7);
  absl::Duration retain_dead = absl::ZeroDuration();
  RetryPolicy retry;
  // Install SIGINT/SIGTERM handlers in Start() that trigger a graceful Stop().
  bool handle_signals = true;
};

}  // namespace popqueue

#endif  // POPQUEUE_OPTIONS_H_
