// A worker process for mongodb_drain_test: works the jobs of one collection,
// appending the job's data (its index) and "\n" to LOG_FILE each time a
// handler runs, so that the test counts handler executions per job across
// processes. Runs until SIGTERM (graceful drain) or SIGKILL.
//
//   mongodb_drain_worker DB_URL DB_NAME COLLECTION LOG_FILE CONCURRENCY
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "popqueue/queue.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: mongodb_drain_worker DB_URL DB_NAME COLLECTION "
                 "LOG_FILE CONCURRENCY\n");
    return 2;
  }
  const int log_fd =
      open(argv[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::perror("mongodb_drain_worker: open log");
    return 1;
  }
  popqueue::QueueConfig config{.db_url = argv[1],
                               .db_name = argv[2],
                               .collection = argv[3],
                               .retries = 0};
  config.worker.default_concurrency = std::atoi(argv[5]);
  config.worker.poll_interval = absl::Milliseconds(100);
  // Keep finished jobs (no cleaner): the test counts them.
  config.worker.retain_completed = absl::ZeroDuration();
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "mongodb_drain_worker: %s\n",
                 std::string(queue.status().message()).c_str());
    return 1;
  }
  absl::Status defined =
      queue.Define("drain", [log_fd](const popqueue::Job& job) {
        // One write(2) per line: O_APPEND keeps lines of four processes whole.
        const std::string line = job.data + "\n";
        return write(log_fd, line.data(), line.size()) ==
               static_cast<ssize_t>(line.size());
      });
  if (!defined.ok()) return 1;
  absl::Status run = queue.Start();
  if (!run.ok()) {
    std::fprintf(stderr, "mongodb_drain_worker: %s\n",
                 std::string(run.message()).c_str());
  }
  return run.ok() ? 0 : 1;
}
