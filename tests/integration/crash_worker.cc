// A worker process for crash_test: works the jobs of DB_URL, appending
// "<pid> <job id>\n" to LOG_FILE when a handler starts and sleeping
// SLEEP_MS per job. Runs until killed or SIGTERM.
//
//   crash_worker DB_URL LOG_FILE SLEEP_MS CONCURRENCY
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "popqueue/queue.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: crash_worker DB_URL LOG_FILE SLEEP_MS CONCURRENCY\n");
    return 2;
  }
  int log_fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) return 1;
  int sleep_ms = std::atoi(argv[3]);
  popqueue::QueueConfig config{.db_url = argv[1], .retries = 5};
  config.worker.default_concurrency = std::atoi(argv[4]);
  config.worker.poll_interval = absl::Milliseconds(50);
  config.worker.lease = absl::Seconds(2);
  config.worker.heartbeat_interval = absl::Milliseconds(500);
  config.worker.rescue_interval = absl::Milliseconds(500);
  config.worker.leader_ttl = absl::Seconds(2);
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "crash_worker: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  queue.Define("crash-test", [&](const popqueue::Job& job) {
    // One write(2) per line: O_APPEND keeps lines from two processes whole.
    std::string line = std::to_string(getpid()) + " " + std::to_string(job.id) + "\n";
    if (write(log_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return false;
    }
    usleep(sleep_ms * 1000);
    return true;
  });
  return queue.Start().ok() ? 0 : 1;
}
