// Prometheus metrics in a program that links the library.
//
//   metrics [DB_URL]     default: sqlite://<temp dir>/metrics-<time>.db
//
// Attaches a popqueue::MetricsExporter to the queue, runs 20 jobs (19
// succeed, one fails for good), then prints what a GET /metrics of this
// program would answer and checks the figures in it. Mount Text() on the
// HTTP server your service already has (docs/metrics.md). Exits 0 when the
// figures are right, 1 with a message otherwise.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "popqueue/metrics.h"
#include "popqueue/queue.h"

int main(int argc, char** argv) {
  std::string db_url = argc > 1 ? argv[1] : "";
  if (db_url.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    db_url = std::string("sqlite://") + (tmp ? tmp : "/tmp") + "/popqueue-example-metrics-" +
             std::to_string(std::time(nullptr)) + ".db";
  }
  popqueue::QueueConfig config{.db_url = db_url, .retries = 0};
  config.worker.handle_signals = false;
  auto queue = popqueue::Queue::Open(config);
  if (!queue.ok()) {
    std::fprintf(stderr, "metrics: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  std::atomic<int> finished = 0;
  absl::Status defined = (*queue)->Define("resize", [&](const popqueue::Job& job) {
    ++finished;
    return job.data != "corrupt.png";  // false: a failed attempt
  });
  if (!defined.ok()) {
    std::fprintf(stderr, "metrics: %s\n", std::string(defined.message()).c_str());
    return 1;
  }

  // Before Start(): the exporter counts the events of this process's workers.
  auto metrics = popqueue::MetricsExporter::Attach(**queue);
  if (!metrics.ok()) {
    std::fprintf(stderr, "metrics: %s\n", std::string(metrics.status().message()).c_str());
    return 1;
  }
  for (int i = 0; i < 20; ++i) {
    std::string file = i == 7 ? "corrupt.png" : "photo-" + std::to_string(i) + ".png";
    if (auto r = (*queue)->Enqueue("resize", file); !r.ok()) {
      std::fprintf(stderr, "metrics: enqueue: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    (*metrics)->RecordEnqueued("resize");
  }
  if (auto s = (*queue)->StartInBackground(); !s.ok()) {
    std::fprintf(stderr, "metrics: start: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (finished < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*queue)->Stop();  // drains: every outcome is stored and counted

  // What your /metrics route answers, with Content-Type kContentType.
  const std::string text = (*metrics)->Text();
  std::printf("Content-Type: %s\n\n%s",
              std::string(popqueue::MetricsExporter::kContentType).c_str(), text.c_str());
  for (const char* want : {
           "popqueue_jobs_enqueued_total{name=\"resize\"} 20\n",
           "popqueue_jobs_completed_total{name=\"resize\"} 19\n",
           "popqueue_jobs_dead_total{name=\"resize\"} 1\n",
           "popqueue_job_duration_seconds_count{name=\"resize\"} 20\n",
           "popqueue_jobs{queue=\"default\",state=\"completed\"} 19\n",
           "popqueue_jobs{queue=\"default\",state=\"dead\"} 1\n",
           "popqueue_store_up 1\n",
       }) {
    if (text.find(want) == std::string::npos) {
      std::fprintf(stderr, "metrics: missing from the text: %s", want);
      return 1;
    }
  }
  std::fprintf(stderr, "metrics: all figures as expected\n");
  return 0;
}
