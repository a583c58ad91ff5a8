// A worker process for scripts/chaos: works the chaos jobs of one store and
// lets each handler decide its outcome from the payload (chaos_plan.h).
// Before acting, every handler start appends "<pid> <job id> <index>
// <attempt>\n" to LOG_FILE with one write(2) (O_APPEND keeps the lines of
// concurrent processes whole), so that the checker can count duplicates.
// Runs until SIGKILL, or SIGTERM (graceful drain).
//
//   chaos_worker DB_URL COLLECTION LOG_FILE CONCURRENCY
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "chaos_plan.h"
#include "popqueue/queue.h"

namespace {

using popqueue::chaos::Kind;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr,
                 "usage: chaos_worker DB_URL COLLECTION LOG_FILE CONCURRENCY [LEASE_SECONDS]\n");
    return 2;
  }
  int lease_seconds = argc == 6 ? std::atoi(argv[5]) : 3;
  if (lease_seconds < 1) {
    std::fprintf(stderr, "chaos_worker: LEASE_SECONDS must be a positive integer\n");
    return 2;
  }
  int log_fd = open(argv[3], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::perror("chaos_worker: LOG_FILE");
    return 1;
  }
  popqueue::QueueConfig config{
      .db_url = argv[1], .collection = argv[2], .retries = popqueue::chaos::kMaxAttempts - 1};
  config.worker.default_concurrency = std::atoi(argv[4]);
  config.worker.poll_interval = absl::Milliseconds(100);
  // Short leases (3 s unless given) so that the jobs of a killed worker come
  // back quickly; a lease must still outlast the store's slowest round trips.
  config.worker.lease = absl::Seconds(lease_seconds);
  config.worker.heartbeat_interval = absl::Milliseconds(500);
  config.worker.rescue_interval = absl::Milliseconds(500);
  config.worker.leader_ttl = absl::Seconds(3);
  config.worker.retry.base = absl::Milliseconds(50);
  config.worker.retry.cap = absl::Milliseconds(500);
  config.worker.retain_completed = absl::ZeroDuration();  // the checker reads them all
  config.worker.retain_cancelled = absl::ZeroDuration();
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "chaos_worker: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  absl::Status defined = queue.Define(popqueue::chaos::kJobName, [&](const popqueue::Job& job) {
    int64_t index = popqueue::chaos::IndexOf(job.data);
    std::string line = std::to_string(getpid()) + " " + std::to_string(job.id) + " " +
                       std::to_string(index) + " " + std::to_string(job.attempt) + "\n";
    if (write(log_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::abort();  // the record of starts must be complete
    }
    if (index < 0) return false;
    switch (popqueue::chaos::KindOf(index)) {
      case Kind::kOk: return true;
      case Kind::kSlow: usleep(popqueue::chaos::SlowMillis(index) * 1000); return true;
      case Kind::kFlaky: return job.attempt > 1;
      case Kind::kFail: return false;
    }
    return false;
  });
  if (!defined.ok()) return 1;
  absl::Status run = queue.Start();
  if (!run.ok()) {
    std::fprintf(stderr, "chaos_worker %d: stopped: %s\n", getpid(),
                 std::string(run.message()).c_str());
    return 1;
  }
  return 0;
}
