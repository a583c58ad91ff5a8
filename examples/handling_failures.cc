// The original README's Example 2 (handling failures), in C++.
//
//   handling_failures [DB_URL]     default: sqlite://<temp dir>/failures.db
//
// A handler that fails (returns false, or throws) is retried with backoff;
// after retries + 1 attempts the job is dead (the dead-letter state), where
// it keeps every error for review and can be requeued.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <stdexcept>
#include <string>

#include "popqueue/queue.h"

int main(int argc, char** argv) {
  std::string db_url = argc > 1 ? argv[1] : "";
  if (db_url.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    db_url = std::string("sqlite://") + (tmp ? tmp : "/tmp") + "/popqueue-example-failures-" +
             std::to_string(std::time(nullptr)) + ".db";
  }
  constexpr int kRetries = 3;
  popqueue::QueueConfig config{
      .db_url = db_url, .db_name = "myDatabase", .collection = "myCollection", .retries = kRetries};
  config.worker.retry.base = absl::Milliseconds(50);  // quick retries for the demo
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "handling_failures: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }

  std::atomic<int> calls{0};
  queue.Define("myJob", [&calls](const popqueue::Job& job) {
    int n = ++calls;
    std::printf("attempt %d of job %lld\n", job.attempt, static_cast<long long>(job.id));
    if (n % 2 == 0) throw std::runtime_error("upstream refused");  // a thrown failure
    return job.data != "fail";                                     // a returned failure
  });

  std::promise<void> dead;
  queue.OnEvent([&dead](const popqueue::JobEvent& e) {
    if (e.kind == popqueue::JobEvent::Kind::kRetrying) {
      std::printf("failed (%s); retrying at %s\n", e.error.c_str(),
                  absl::FormatTime(e.next_run_at).c_str());
    }
    if (e.kind == popqueue::JobEvent::Kind::kDead) dead.set_value();
  });

  auto enqueued = queue.Now(popqueue::Job{.data = "fail"}, "myJob", "", std::time(nullptr));
  if (!enqueued.ok()) {
    std::fprintf(stderr, "handling_failures: %s\n",
                 std::string(enqueued.status().message()).c_str());
    return 1;
  }
  if (auto s = queue.StartInBackground(); !s.ok()) return 1;
  if (dead.get_future().wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "handling_failures: job not dead within 30s\n");
    return 1;
  }
  queue.Stop();

  auto job = queue.GetJob(enqueued->id);
  if (!job.ok() || job->state != popqueue::JobState::kDead || job->attempt != kRetries + 1 ||
      static_cast<int>(job->errors.size()) != kRetries + 1 || calls != kRetries + 1) {
    std::fprintf(stderr, "handling_failures: expected dead after %d attempts with %d errors\n",
                 kRetries + 1, kRetries + 1);
    return 1;
  }
  for (const popqueue::JobError& e : job->errors) {
    std::printf("  attempt %d: %s\n", e.attempt, e.message.c_str());
  }
  // Dead jobs can be requeued for a fresh set of attempts.
  auto requeued = queue.Requeue(job->id);
  if (!requeued.ok() || requeued->state != popqueue::JobState::kAvailable) {
    std::fprintf(stderr, "handling_failures: requeue failed\n");
    return 1;
  }
  std::printf("job %lld is dead after %d attempts; requeued\n", static_cast<long long>(job->id),
              job->attempt);
  return 0;
}
