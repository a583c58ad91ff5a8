// Options for enqueueing jobs and for running a Queue.
#ifndef POPQUEUE_OPTIONS_H_
#define POPQUEUE_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "popqueue/job.h"

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
  std::optional<int> max_attempts;             // default: Queue retries + 1
  std::optional<absl::Duration> timeout;       // handler time limit
  std::optional<absl::Duration> backoff_base;  // first retry delay
  JobMetadata metadata;                        // carried with the job (popqueue/job.h's limits)
};

// Exponential backoff with full jitter between retries:
//   delay(attempt) = min(cap, base * multiplier^(attempt-1)) * (1 - jitter*U[0,1))
struct RetryPolicy {
  absl::Duration base = absl::Seconds(1);
  double multiplier = 2.0;
  absl::Duration cap = absl::Hours(1);
  double jitter = 0.2;  // fraction of the delay that is randomized, 0..1
};

// At most `limit` jobs started per `period`. With a coordinator (cache URL)
// the limit holds across every process; without one, per process.
struct RateLimit {
  int64_t limit = 0;  // 0 = unlimited
  absl::Duration period = absl::Seconds(1);
};

// A load reading: fractions 0..1 of CPU time busy and of memory in use.
struct LoadReading {
  double cpu = 0;
  double memory = 0;
};

// Resource-aware concurrency: the process lowers its global concurrency
// limit while the machine is loaded and raises it back when load eases.
// Every `check_interval` it reads the load; when cpu >= cpu_high or memory >=
// memory_high the limit is multiplied by `decrease_factor` (never below
// `min_concurrency`); when cpu <= cpu_low and memory <= memory_low it grows by
// `increase_step` up to the configured cap. In between it holds (hysteresis).
// See docs/concurrency.md.
struct ResourceLimits {
  bool enabled = false;
  // CPU time busy across all cores since the previous check (/proc/stat).
  double cpu_high = 0.90;
  double cpu_low = 0.70;
  // 1 - MemAvailable / MemTotal (/proc/meminfo).
  double memory_high = 0.90;
  double memory_low = 0.80;
  int min_concurrency = 1;
  absl::Duration check_interval = absl::Seconds(2);
  double decrease_factor = 0.5;  // 0 < f < 1
  int increase_step = 1;
  // Where readings come from; empty = /proc. For tests and for embedders with
  // their own signal (a cgroup, a container runtime). Called from one
  // background thread; an error keeps the current limit.
  std::function<absl::StatusOr<LoadReading>()> read_load;
};

// How a Queue runs its workers. Defaults suit a small service.
struct WorkerOptions {
  // Concurrency per queue name; queues not listed use `default_concurrency`.
  std::map<std::string, int> concurrency;
  int default_concurrency = 10;
  // Cap on jobs running at once across all queues of this process; 0 = the
  // sum of the per-queue limits.
  int max_concurrency = 0;
  // Job starts allowed per period, by queue name and by job name. A job runs
  // only when both its queue's and its name's limits allow it; see
  // docs/concurrency.md for how over-limit jobs are held.
  std::map<std::string, RateLimit> queue_rate_limits;
  std::map<std::string, RateLimit> job_rate_limits;
  // How many claimed jobs this process may hold while their job name is over
  // its rate limit (their leases are kept alive); when reached, queues with
  // held jobs are not claimed from until some are started.
  int max_held_jobs = 1000;
  ResourceLimits resource;
  // Queues this process works; empty = {kDefaultQueue}.
  std::vector<std::string> queues;
  std::string worker_id;  // "" = host-pid-random
  absl::Duration poll_interval = absl::Seconds(1);
  absl::Duration lease = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration default_timeout = absl::Minutes(5);
  absl::Duration completer_flush = absl::Milliseconds(2);
  // Claiming ahead: a queue whose jobs finish faster than a claim round trip
  // gets up to this many jobs claimed beyond its free slots, waiting in the
  // process (under lease) for the next free slot: as many as its slots
  // finish during two claims (measured). Jobs that take longer than two
  // claims are never claimed ahead. 0 = claim only for free slots. Not used
  // with rate limits.
  int max_prefetch = 1000;
  int completer_batch = 1000;
  absl::Duration rescue_interval = absl::Seconds(5);
  absl::Duration leader_ttl = absl::Seconds(15);
  // On Stop(): how long in-flight handlers get to finish before their jobs are
  // released for another attempt.
  absl::Duration shutdown_deadline = absl::Seconds(25);
  // A handler asked to stop (timeout, cancel, shutdown) has this long to
  // return; the `--exec` handler SIGKILLs its command just before. Past it the
  // handler is overdue: logged, counted (popqueue_handlers_overdue), shown on
  // the job, and its slot stays busy until it returns. The hard limit of an
  // attempt is thus its timeout plus stop_grace. At shutdown the last
  // stop_grace of shutdown_deadline (at most half of it) is this stop.
  absl::Duration stop_grace = absl::Seconds(5);
  // Retention of finished jobs, applied by the leader's cleaner (0 = keep).
  absl::Duration retain_completed = absl::Hours(24);
  absl::Duration retain_cancelled = absl::Hours(24 * 7);
  absl::Duration retain_dead = absl::ZeroDuration();
  RetryPolicy retry;
  // Install SIGINT/SIGTERM handlers in Start() that trigger a graceful Stop()
  // (taken by a watcher thread; the threads that run handlers block both
  // signals either way: docs/lifecycle.md#shutdown).
  bool handle_signals = true;
};

}  // namespace popqueue

#endif  // POPQUEUE_OPTIONS_H_
