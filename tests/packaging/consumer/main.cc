// Enqueues one job on a SQLite file and processes it with the installed
// library: `consumer /tmp/x.db` prints "processed <data>" and exits 0 when
// the installed MetricsExporter counted it too.
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "popqueue/metrics.h"
#include "popqueue/queue.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer SQLITE_FILE\n");
    return 2;
  }
  popqueue::Queue queue("sqlite://" + std::string(argv[1]), "", "consumer", "jobs", 0);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::string seen;
  absl::Status s = queue.Define("greet", [&](const popqueue::Job& job) {
    std::lock_guard<std::mutex> lock(mu);
    seen = job.data;
    return true;
  });
  if (s.ok()) {
    s = queue.OnEvent([&](const popqueue::JobEvent& e) {
      if (e.kind != popqueue::JobEvent::Kind::kCompleted) return;
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    });
  }
  auto metrics = popqueue::MetricsExporter::Attach(queue);
  if (s.ok()) s = metrics.status();
  if (s.ok()) {
    s = queue.Now(popqueue::Job{.data = "hello"}, "greet", "greet-1", std::time(nullptr)).status();
  }
  if (s.ok()) s = queue.StartInBackground();
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; })) {
      std::fprintf(stderr, "the job was not processed within 30 s\n");
      return 1;
    }
  }
  queue.Stop();
  if ((*metrics)->Text().find("popqueue_jobs_completed_total{name=\"greet\"} 1\n") ==
      std::string::npos) {
    std::fprintf(stderr, "the metrics text does not count the job:\n%s",
                 (*metrics)->Text().c_str());
    return 1;
  }
  std::printf("processed %s\n", seen.c_str());
  return 0;
}
