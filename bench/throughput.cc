// Throughput benchmark: enqueue N jobs in batches of B, then burn them down
// with the full worker runtime (no-op handlers) and report jobs/s. Checks
// that every job ran exactly once.
//
//   popqueue_bench [--db-url URL] [--jobs N] [--batch B] [--concurrency C]
//                  [--collection NAME]
// Default: a fresh SQLite file in /tmp, 100000 jobs, batches of 1000, 100 slots.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "popqueue/queue.h"

namespace {

struct Args {
  std::string db_url;
  std::string collection = "bench_jobs";
  int jobs = 100000;
  int batch = 1000;
  int concurrency = 100;
};

bool Parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--db-url") a.db_url = v;
    else if (k == "--jobs") a.jobs = std::atoi(v.c_str());
    else if (k == "--batch") a.batch = std::atoi(v.c_str());
    else if (k == "--concurrency") a.concurrency = std::atoi(v.c_str());
    else if (k == "--collection") a.collection = v;
    else return false;
  }
  return (argc % 2) == 1 && a.jobs > 0 && a.batch > 0 && a.concurrency > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: popqueue_bench [--db-url URL] [--jobs N] [--batch B] "
                 "[--concurrency C] [--collection NAME]\n");
    return 2;
  }
  std::string cleanup;
  if (args.db_url.empty()) {
    cleanup = "/tmp/popqueue-bench-" + std::to_string(getpid()) + ".db";
    args.db_url = "sqlite://" + cleanup;
  }
  popqueue::QueueConfig config{.db_url = args.db_url, .collection = args.collection,
                               .retries = 0};
  config.worker.default_concurrency = args.concurrency;
  config.worker.handle_signals = false;
  config.worker.retain_completed = absl::ZeroDuration();
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }

  // W1: enqueue.
  absl::Time t0 = absl::Now();
  for (int done = 0; done < args.jobs; done += args.batch) {
    std::vector<popqueue::EnqueueRequest> batch;
    int n = std::min(args.batch, args.jobs - done);
    batch.reserve(n);
    for (int i = 0; i < n; ++i) {
      batch.push_back({.name = "noop", .data = std::to_string(done + i)});
    }
    auto r = queue.EnqueueMany(std::move(batch));
    if (!r.ok()) {
      std::fprintf(stderr, "bench: enqueue: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
  }
  double enqueue_s = absl::ToDoubleSeconds(absl::Now() - t0);

  // W2: burn-down.
  std::vector<std::atomic<int>> runs(args.jobs);
  std::atomic<int> bad{0};
  queue.Define("noop", [&](const popqueue::Job& job) {
    int i = std::atoi(job.data.c_str());
    if (i < 0 || i >= args.jobs) {
      ++bad;
    } else {
      ++runs[i];
    }
    return true;
  });
  absl::Mutex mu;
  int completed = 0;
  queue.OnEvent([&](const popqueue::JobEvent& e) {
    if (e.kind != popqueue::JobEvent::Kind::kCompleted) return;
    absl::MutexLock lock(&mu);
    ++completed;
  });
  absl::Time t1 = absl::Now();
  if (!queue.StartInBackground().ok()) return 1;
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return completed >= args.jobs; };
    while (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(2))) {
      std::fprintf(stderr, "  burn-down: %d/%d\n", completed, args.jobs);
    }
  }
  double burn_s = absl::ToDoubleSeconds(absl::Now() - t1);
  queue.Stop();

  int once = 0;
  for (auto& r : runs) once += r.load() == 1;
  std::printf("store: %s\n", args.db_url.substr(0, args.db_url.find("://")).c_str());
  std::printf("enqueue:   %d jobs in batches of %d: %.2fs = %.0f jobs/s\n", args.jobs,
              args.batch, enqueue_s, args.jobs / enqueue_s);
  std::printf("burn-down: %d jobs, %d slots: %.2fs = %.0f jobs/s\n", args.jobs,
              args.concurrency, burn_s, args.jobs / burn_s);
  std::printf("exactly once: %d/%d%s\n", once, args.jobs, bad ? " (bad payloads!)" : "");
  if (!cleanup.empty()) {
    unlink(cleanup.c_str());
    unlink((cleanup + "-wal").c_str());
    unlink((cleanup + "-shm").c_str());
  }
  return once == args.jobs && bad == 0 ? 0 : 1;
}
