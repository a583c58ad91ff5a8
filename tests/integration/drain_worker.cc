// A worker process for drain_test: works the jobs of one store, appending
// "<job data> <pid>\n" to LOG_FILE each time a handler runs, so that the
// test counts handler runs per job and per process. Runs until SIGTERM
// (graceful drain) or SIGKILL.
//
//   drain_worker DB_URL DB_NAME COLLECTION LOG_FILE CONCURRENCY MAX_PREFETCH [QUEUES]
//
// QUEUES: comma-separated queue names (default: the default queue); the
// process runs CONCURRENCY handlers at most over all of them, and each
// queue gets its share.
//
// Start barrier: once its Queue is open it writes one byte to stdout and
// waits for stdin to reach end-of-file before starting its workers, so the
// four processes of a test start together and no one gets a head start.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "popqueue/queue.h"

namespace {

// Signals readiness on stdout, then blocks until stdin is closed.
bool AwaitStart() {
  if (write(STDOUT_FILENO, "r", 1) != 1) return false;
  // The test stops reading the pipe once everyone is ready: point stdout at
  // stderr so that later output cannot raise SIGPIPE.
  if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0) return false;
  char c;
  ssize_t n;
  while ((n = read(STDIN_FILENO, &c, 1)) != 0) {
    if (n < 0 && errno != EINTR) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    std::fprintf(stderr,
                 "usage: drain_worker DB_URL DB_NAME COLLECTION LOG_FILE "
                 "CONCURRENCY MAX_PREFETCH [QUEUES]\n");
    return 2;
  }
  const int log_fd = open(argv[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::perror("drain_worker: open log");
    return 1;
  }
  popqueue::QueueConfig config{
      .db_url = argv[1], .db_name = argv[2], .collection = argv[3], .retries = 0};
  config.worker.default_concurrency = std::atoi(argv[5]);
  if (argc == 8) {
    std::string list = argv[7];
    for (size_t at = 0; at <= list.size();) {
      const size_t comma = std::min(list.find(',', at), list.size());
      config.worker.queues.push_back(list.substr(at, comma - at));
      at = comma + 1;
    }
    const int n = static_cast<int>(config.worker.queues.size());
    config.worker.max_concurrency = config.worker.default_concurrency;
    config.worker.default_concurrency =
        std::max(1, (config.worker.default_concurrency + n - 1) / n);
  }
  config.worker.poll_interval = absl::Milliseconds(100);
  config.worker.max_prefetch = std::atoi(argv[6]);
  // Keep finished jobs (no cleaner): the test counts them.
  config.worker.retain_completed = absl::ZeroDuration();
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "drain_worker: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  const std::string pid = std::to_string(getpid());
  absl::Status defined = queue.Define("drain", [log_fd, &pid](const popqueue::Job& job) {
    // One write(2) per line: O_APPEND keeps lines of four processes whole.
    const std::string line = job.data + " " + pid + "\n";
    return write(log_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  });
  if (!defined.ok() || !AwaitStart()) return 1;
  absl::Status run = queue.Start();
  if (!run.ok()) {
    std::fprintf(stderr, "drain_worker: %s\n", std::string(run.message()).c_str());
  }
  return run.ok() ? 0 : 1;
}
