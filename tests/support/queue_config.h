// The Queue configuration of the in-process tests: the embedded SQLite store
// in a test's folder, a short poll interval, quick retries without jitter,
// no signal handlers, a bounded shutdown.
#ifndef POPQUEUE_TESTS_SUPPORT_QUEUE_CONFIG_H_
#define POPQUEUE_TESTS_SUPPORT_QUEUE_CONFIG_H_

#include "absl/time/time.h"
#include "popqueue/queue.h"
#include "tests/support/test_util.h"

namespace popqueue::testing {

inline QueueConfig FastQueueConfig(const TempDir& dir, int retries = 3) {
  QueueConfig c{.db_url = dir.SqliteUrl(), .retries = retries};
  c.worker.poll_interval = absl::Milliseconds(20);
  c.worker.retry.base = absl::Milliseconds(10);
  c.worker.retry.jitter = 0;
  c.worker.handle_signals = false;
  c.worker.shutdown_deadline = absl::Seconds(5);
  return c;
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_QUEUE_CONFIG_H_
