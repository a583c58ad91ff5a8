// The original README's Example 4 (PostgreSQL as the store), in C++.
//
//   postgres [DB_URL [CACHE_URL]]
//     DB_URL     default: postgres://localhost:5432
//     CACHE_URL  default: none (the database coordinates the workers)
//
// A URL without a database path uses dbName ("myDatabase") as the database,
// which must exist; the jobs live in the table collectionName
// ("myCollection"), created with its indexes on first use. Workers claim
// with FOR UPDATE SKIP LOCKED and wake on LISTEN/NOTIFY.
//
// Defines a handler, enqueues a job with Now() and a failing one, runs the
// workers until the first completed and the second is dead after retries + 1
// attempts, and checks both outcomes. Exits 0 on success, 1 otherwise.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <string>

#include "popqueue/queue.h"

int main(int argc, char** argv) {
  const std::string db_url = argc > 1 ? argv[1] : "postgres://localhost:5432";
  const std::string cache_url = argc > 2 ? argv[2] : "";
  constexpr int kRetries = 3;

  popqueue::Queue queue(db_url, cache_url, "myDatabase", "myCollection", kRetries);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "postgres: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }

  absl::Status defined = queue.Define("myJob", [](const popqueue::Job& job) {
    std::printf("Processing job %lld (attempt %d): %s\n", static_cast<long long>(job.id),
                job.attempt, job.data.c_str());
    return job.data != "fail";
  });
  if (!defined.ok()) {
    std::fprintf(stderr, "postgres: %s\n", std::string(defined.message()).c_str());
    return 1;
  }

  auto enqueued =
      queue.Now(popqueue::Job{.data = "myJobData"}, "myJob", "jobIdentifier", std::time(nullptr));
  if (!enqueued.ok()) {
    std::fprintf(stderr, "postgres: enqueue failed: %s\n",
                 std::string(enqueued.status().message()).c_str());
    return 1;
  }
  // Short retry delays so that the failing job reaches the dead-letter state
  // within seconds (the default first delay is 1 s, doubling).
  auto failing = queue.Enqueue("myJob", "fail", {.backoff_base = absl::Milliseconds(50)});
  if (!failing.ok()) {
    std::fprintf(stderr, "postgres: enqueue failed: %s\n",
                 std::string(failing.status().message()).c_str());
    return 1;
  }

  // Listeners run on worker threads; the ids were set before the workers start.
  std::promise<void> completed;
  std::promise<void> dead;
  const popqueue::JobId ok_id = enqueued->id;
  const popqueue::JobId fail_id = failing->id;
  absl::Status listening = queue.OnEvent([&](const popqueue::JobEvent& e) {
    if (e.kind == popqueue::JobEvent::Kind::kCompleted && e.job.id == ok_id) {
      completed.set_value();
    }
    if (e.kind == popqueue::JobEvent::Kind::kDead && e.job.id == fail_id) dead.set_value();
  });
  if (!listening.ok()) {
    std::fprintf(stderr, "postgres: %s\n", std::string(listening.message()).c_str());
    return 1;
  }

  if (auto s = queue.StartInBackground(); !s.ok()) {
    std::fprintf(stderr, "postgres: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const bool in_time =
      completed.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready &&
      dead.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  queue.Stop();
  if (!in_time) {
    std::fprintf(stderr, "postgres: the jobs did not finish within 30s\n");
    return 1;
  }

  auto job = queue.GetJob(ok_id);
  if (!job.ok() || job->state != popqueue::JobState::kCompleted) {
    std::fprintf(stderr, "postgres: expected job %lld completed\n", static_cast<long long>(ok_id));
    return 1;
  }
  auto failed = queue.GetJob(fail_id);
  if (!failed.ok() || failed->state != popqueue::JobState::kDead ||
      failed->attempt != kRetries + 1) {
    std::fprintf(stderr, "postgres: expected job %lld dead after %d attempts\n",
                 static_cast<long long>(fail_id), kRetries + 1);
    return 1;
  }
  std::printf("job %lld completed; job %lld dead after %d attempts\n",
              static_cast<long long>(ok_id), static_cast<long long>(fail_id), failed->attempt);
  return 0;
}
