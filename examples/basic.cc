// The original README's Example 1 (basic usage), in C++.
//
//   basic [DB_URL]     default: sqlite://<temp dir>/basic.db
//
// Defines a handler, enqueues one job with a unique identifier due now,
// runs the workers until the job is completed, and checks the outcome.
// Exits 0 on success, 1 with a message otherwise.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <string>

#include "popqueue/queue.h"

int main(int argc, char** argv) {
  std::string db_url = argc > 1 ? argv[1] : "";
  if (db_url.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    db_url = std::string("sqlite://") + (tmp ? tmp : "/tmp") + "/popqueue-example-basic-" +
             std::to_string(std::time(nullptr)) + ".db";
  }
  popqueue::Queue queue(db_url, "", "myDatabase", "myCollection", 3);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "basic: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }

  queue.Define("myJob", [](const popqueue::Job& job) {
    std::printf("Processing job %lld: %s\n", static_cast<long long>(job.id), job.data.c_str());
    return true;
  });

  std::promise<popqueue::JobEvent> done;
  queue.OnEvent([&done](const popqueue::JobEvent& e) {
    if (e.kind == popqueue::JobEvent::Kind::kCompleted) done.set_value(e);
  });

  auto enqueued =
      queue.Now(popqueue::Job{.data = "jobData"}, "myJob", "jobIdentifier", std::time(nullptr));
  if (!enqueued.ok()) {
    std::fprintf(stderr, "basic: enqueue failed: %s\n",
                 std::string(enqueued.status().message()).c_str());
    return 1;
  }
  // The same identifier while the job is pending returns the same job.
  auto again =
      queue.Now(popqueue::Job{.data = "jobData"}, "myJob", "jobIdentifier", std::time(nullptr));
  if (!again.ok() || again->id != enqueued->id || again->inserted) {
    std::fprintf(stderr, "basic: duplicate identifier was not deduplicated\n");
    return 1;
  }

  if (auto s = queue.StartInBackground(); !s.ok()) {
    std::fprintf(stderr, "basic: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto future = done.get_future();
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "basic: job did not complete within 30s\n");
    return 1;
  }
  queue.Stop();

  auto job = queue.GetJob(enqueued->id);
  if (!job.ok() || job->state != popqueue::JobState::kCompleted || job->attempt != 1) {
    std::fprintf(stderr, "basic: expected the job completed after 1 attempt\n");
    return 1;
  }
  std::printf("job %lld completed after %d attempt\n", static_cast<long long>(job->id),
              job->attempt);
  return 0;
}
