// The original README's Example 3 (Memcached as the cache), in C++.
//
//   memcached [DB_URL [CACHE_URL]]
//     DB_URL     default: sqlite://<temp dir>/memcached-example.db
//     CACHE_URL  default: memcached://localhost:11211
//
// The second URL names the coordinator: with memcached, workers of every
// process sharing the database take the maintenance leadership through a
// memcached lock and list themselves in a memcached worker registry, and
// rate limits hold across processes. Jobs themselves always live in the
// database (memcached may evict; it is never a job store).
//
// Defines a handler, enqueues a job with Now(), starts the workers until the
// job completed, and checks the outcome. Exits 0 on success, 1 otherwise.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <string>

#include "popqueue/queue.h"

int main(int argc, char** argv) {
  std::string db_url = argc > 1 ? argv[1] : "";
  std::string cache_url = argc > 2 ? argv[2] : "memcached://localhost:11211";
  if (db_url.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    db_url = std::string("sqlite://") + (tmp ? tmp : "/tmp") + "/popqueue-example-memcached-" +
             std::to_string(std::time(nullptr)) + ".db";
  }

  popqueue::Queue queue(db_url, cache_url, "myDatabase", "myCollection", 3);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "memcached: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }

  queue.Define("myJob", [](const popqueue::Job& job) {
    std::printf("Processing job %lld: %s\n", static_cast<long long>(job.id), job.data.c_str());
    return true;
  });

  std::promise<void> done;
  queue.OnEvent([&done](const popqueue::JobEvent& e) {
    if (e.kind == popqueue::JobEvent::Kind::kCompleted) done.set_value();
  });

  auto enqueued =
      queue.Now(popqueue::Job{.data = "myJobData"}, "myJob", "jobIdentifier", std::time(nullptr));
  if (!enqueued.ok()) {
    std::fprintf(stderr, "memcached: enqueue failed: %s\n",
                 std::string(enqueued.status().message()).c_str());
    return 1;
  }

  if (auto s = queue.StartInBackground(); !s.ok()) {
    std::fprintf(stderr, "memcached: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (done.get_future().wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "memcached: job did not complete within 30s\n");
    return 1;
  }
  queue.Stop();

  auto job = queue.GetJob(enqueued->id);
  if (!job.ok() || job->state != popqueue::JobState::kCompleted) {
    std::fprintf(stderr, "memcached: expected the job completed\n");
    return 1;
  }
  std::printf("job %lld completed (coordinator: %s)\n", static_cast<long long>(job->id),
              cache_url.c_str());
  return 0;
}
