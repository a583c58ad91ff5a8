// A worker process for stop_test: one slot, one C++ handler "stop" that
// ignores every stop request (it never looks at ctx.cancelled()) and keeps a
// ledger of its runs, appending to LEDGER_FILE one line per event:
//
//   start <attempt> <pid> <unix us>     the handler began
//   end <attempt> <pid> <unix us>       the handler returned
//
// Attempt 1 runs HANDLER_MS (-1 = until the process dies), then fails with
// kCancelled if it was asked to stop meanwhile (ok otherwise); later
// attempts succeed at once. Runs until SIGTERM (graceful Stop) or SIGKILL.
//
//   stop_worker DB_URL DB_NAME COLLECTION LEDGER_FILE HANDLER_MS STOP_GRACE_MS SHUTDOWN_MS
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "popqueue/queue.h"

namespace {

int ledger_fd = -1;

void Ledger(const char* event, int attempt) {
  // One write(2) per line: O_APPEND keeps the lines of two processes whole.
  const std::string line =
      absl::StrFormat("%s %d %d %d\n", event, attempt, getpid(), absl::ToUnixMicros(absl::Now()));
  (void)!write(ledger_fd, line.data(), line.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: stop_worker DB_URL DB_NAME COLLECTION LEDGER_FILE HANDLER_MS "
                 "STOP_GRACE_MS SHUTDOWN_MS\n");
    return 2;
  }
  ledger_fd = open(argv[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (ledger_fd < 0) {
    std::perror("stop_worker: open ledger");
    return 1;
  }
  const int handler_ms = std::atoi(argv[5]);
  popqueue::QueueConfig config{
      .db_url = argv[1], .db_name = argv[2], .collection = argv[3], .retries = 1};
  config.worker.default_concurrency = 1;
  config.worker.max_prefetch = 0;
  config.worker.poll_interval = absl::Milliseconds(50);
  config.worker.lease = absl::Seconds(2);
  config.worker.heartbeat_interval = absl::Milliseconds(200);
  config.worker.rescue_interval = absl::Milliseconds(500);
  config.worker.stop_grace = absl::Milliseconds(std::atoi(argv[6]));
  config.worker.shutdown_deadline = absl::Milliseconds(std::atoi(argv[7]));
  config.worker.retain_completed = absl::ZeroDuration();
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "stop_worker: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  absl::Status defined =
      queue.Define("stop", [handler_ms](popqueue::JobContext& ctx) -> absl::Status {
        const int attempt = ctx.job().attempt;
        Ledger("start", attempt);
        if (attempt == 1) {
          // Deaf to ctx.cancelled() on purpose.
          const absl::Time until = handler_ms < 0 ? absl::InfiniteFuture()
                                                  : absl::Now() + absl::Milliseconds(handler_ms);
          while (absl::Now() < until) absl::SleepFor(absl::Milliseconds(10));
        }
        Ledger("end", attempt);
        return ctx.cancelled() ? absl::CancelledError("stopped, late") : absl::OkStatus();
      });
  if (!defined.ok()) return 1;
  absl::Status run = queue.Start();
  if (!run.ok()) std::fprintf(stderr, "stop_worker: %s\n", std::string(run.message()).c_str());
  return run.ok() ? 0 : 1;
}
