// `popqueue worker --demo`: a guided tour of the job lifecycle.
//
// Defines a few handlers, enqueues sample jobs (immediate, delayed, a
// low-priority batch overtaken by an urgent job, one that fails once and then
// succeeds, one that fails until it is dead, one slow job reporting progress),
// runs the workers and prints every transition as it happens: handler start
// and finish lines from the handlers, state changes from a watcher that polls
// the demo jobs.
#ifndef POPQUEUE_CLI_DEMO_H_
#define POPQUEUE_CLI_DEMO_H_

#include "absl/time/time.h"
#include "popqueue/queue.h"

namespace popqueue::cli {

inline constexpr char kDemoQueue[] = "demo";
// Runs one job at a time, so the priority order is visible.
inline constexpr char kDemoPriorityQueue[] = "demo-priority";

struct DemoOptions {
  // Stop once every demo job is final, print a summary and return.
  bool exit_when_done = false;
  // With exit_when_done: give up (exit 1) when the jobs are not all final by
  // then.
  absl::Duration timeout = absl::Minutes(2);
};

// Adjusts `config` for the demo: its queues, one-at-a-time priority queue,
// two retries, short backoff and a fast poll, so it ends within seconds.
void ConfigureDemo(QueueConfig& config);

// Defines the demo handlers, enqueues the sample jobs and runs the workers
// (blocking) until SIGINT/SIGTERM or, with exit_when_done, until all demo jobs
// are final. Returns the process exit code.
int RunDemo(Queue& queue, const DemoOptions& options);

}  // namespace popqueue::cli

#endif  // POPQUEUE_CLI_DEMO_H_
