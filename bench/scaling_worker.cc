// popqueue_scaling: the worker process of the scaling curve (bench/scaling.sh,
// docs/scaling.md), one per network-namespace host, and the enqueuer of its
// jobs. Through the public API only, like popqueue_bench.
//
//   popqueue_scaling enqueue DB_URL COLLECTION JOBS
//     Enqueues JOBS no-op jobs named "noop" (payload: the index 0..JOBS-1)
//     in batches of 1000 (EnqueueMany) and prints the seconds it took.
//
//   popqueue_scaling count DB_URL COLLECTION
//     Prints the jobs the store holds: "<completed> <other>\n" (other: every
//     job in any other state), so the driver checks the store's own record.
//
//   popqueue_scaling work DB_URL COLLECTION JOBS CONCURRENCY IDS_FILE
//     Opens the queue, prints "ready\n" and waits until stdin reaches
//     end-of-file (the start barrier of bench/scaling.py, so that no process
//     gets a head start), then works the jobs with CONCURRENCY slots until
//     SIGTERM (graceful drain). While it works it prints "progress
//     <completed>\n" every 25 ms (completions the store recorded: the
//     completer's events). At exit it writes the payload index of every
//     handler start to IDS_FILE, one per line, and prints one JSON line:
//     {"pid", "started", "completed", "first_start_us", "last_completed_us",
//     "bad"} (wall-clock microseconds: every host of one machine shares the
//     clock, so the driver takes the run from the first start anywhere to
//     the last completion anywhere).
//
// Threads: the handler threads and the completer's event thread touch only
// atomics (a per-index run count, the counters, the two timestamps); the
// progress thread reads them. No lock is taken on the job path, so the
// worker costs its host as little as a no-op handler can.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "popqueue/queue.h"

namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

// Positive integer from argv, or -1.
int ParsePositive(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v <= 0 || v > 100000000) return -1;
  return static_cast<int>(v);
}

int Usage() {
  std::fprintf(stderr,
               "usage: popqueue_scaling enqueue DB_URL COLLECTION JOBS\n"
               "       popqueue_scaling count DB_URL COLLECTION\n"
               "       popqueue_scaling work DB_URL COLLECTION JOBS CONCURRENCY IDS_FILE\n");
  return 2;
}

int Enqueue(const std::string& url, const std::string& collection, int jobs) {
  popqueue::QueueConfig config{.db_url = url, .collection = collection, .retries = 0};
  auto queue = popqueue::Queue::Open(config);
  if (!queue.ok()) {
    std::fprintf(stderr, "popqueue_scaling: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  absl::Time t0 = absl::Now();
  for (int from = 0; from < jobs; from += 1000) {
    std::vector<popqueue::EnqueueRequest> batch;
    for (int i = from; i < std::min(jobs, from + 1000); ++i) {
      batch.push_back({.name = "noop", .data = std::to_string(i)});
    }
    auto s = (*queue)->EnqueueMany(std::move(batch));
    if (!s.ok()) {
      std::fprintf(stderr, "popqueue_scaling: enqueue: %s\n",
                   std::string(s.status().message()).c_str());
      return 1;
    }
  }
  std::printf("%.3f\n", absl::ToDoubleSeconds(absl::Now() - t0));
  return 0;
}

int Count(const std::string& url, const std::string& collection) {
  popqueue::QueueConfig config{.db_url = url, .collection = collection, .retries = 0};
  auto queue = popqueue::Queue::Open(config);
  if (!queue.ok()) {
    std::fprintf(stderr, "popqueue_scaling: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  auto counts = (*queue)->CountByState();
  if (!counts.ok()) {
    std::fprintf(stderr, "popqueue_scaling: %s\n", std::string(counts.status().message()).c_str());
    return 1;
  }
  int64_t completed = 0, other = 0;
  for (const auto& q : *counts) {
    for (const auto& [state, n] : q.by_state) {
      (state == popqueue::JobState::kCompleted ? completed : other) += n;
    }
  }
  std::printf("%lld %lld\n", static_cast<long long>(completed), static_cast<long long>(other));
  return 0;
}

struct Counters {
  explicit Counters(int jobs) : runs(jobs) {}
  std::vector<std::atomic<uint8_t>> runs;  // handler starts per payload index
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> bad{0};  // payloads that are no index of this run
  std::atomic<int64_t> first_start_us{0};
  std::atomic<int64_t> last_completed_us{0};
};

// Blocks until stdin reaches end-of-file; false on a read error.
bool AwaitStart() {
  char buf[64];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

int Work(const std::string& url, const std::string& collection, int jobs, int concurrency,
         const std::string& ids_file) {
  popqueue::QueueConfig config{.db_url = url, .collection = collection, .retries = 0};
  config.worker.default_concurrency = concurrency;
  config.worker.poll_interval = absl::Milliseconds(100);
  config.worker.retain_completed = absl::ZeroDuration();  // no cleaner during the run
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "popqueue_scaling: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  auto c = std::make_unique<Counters>(jobs);
  Counters* counters = c.get();
  absl::Status s = queue.Define("noop", [counters, jobs](const popqueue::Job& job) {
    char* end = nullptr;
    long i = std::strtol(job.data.c_str(), &end, 10);
    if (end == job.data.c_str() || *end != '\0' || i < 0 || i >= jobs) {
      counters->bad.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters->runs[i].fetch_add(1, std::memory_order_relaxed);
    }
    int64_t zero = 0;
    counters->first_start_us.compare_exchange_strong(zero, NowMicros());
    counters->started.fetch_add(1, std::memory_order_relaxed);
    return true;
  });
  if (s.ok()) {
    s = queue.OnEvent([counters](const popqueue::JobEvent& e) {
      if (e.kind != popqueue::JobEvent::Kind::kCompleted) return;
      counters->last_completed_us.store(NowMicros(), std::memory_order_relaxed);
      counters->completed.fetch_add(1, std::memory_order_relaxed);
    });
  }
  if (!s.ok()) {
    std::fprintf(stderr, "popqueue_scaling: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  if (!AwaitStart()) {
    std::perror("popqueue_scaling: stdin");
    return 1;
  }
  std::atomic<bool> done{false};
  std::thread progress([&] {
    // Stop signals go to the thread Start() gives them to, never here.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    while (!done.load()) {
      std::printf("progress %lld\n", static_cast<long long>(counters->completed.load()));
      std::fflush(stdout);
      absl::SleepFor(absl::Milliseconds(25));
    }
  });
  absl::Status run = queue.Start();  // until SIGTERM
  done = true;
  progress.join();
  if (!run.ok()) {
    std::fprintf(stderr, "popqueue_scaling: %s\n", std::string(run.message()).c_str());
  }
  FILE* ids = std::fopen(ids_file.c_str(), "w");
  if (ids == nullptr) {
    std::perror("popqueue_scaling: IDS_FILE");
    return 1;
  }
  for (int i = 0; i < jobs; ++i) {
    for (int k = counters->runs[i].load(); k > 0; --k) std::fprintf(ids, "%d\n", i);
  }
  if (std::fclose(ids) != 0) {
    std::perror("popqueue_scaling: IDS_FILE");
    return 1;
  }
  std::printf(
      "{\"pid\":%d,\"started\":%lld,\"completed\":%lld,\"first_start_us\":%lld,"
      "\"last_completed_us\":%lld,\"bad\":%lld}\n",
      static_cast<int>(getpid()), static_cast<long long>(counters->started.load()),
      static_cast<long long>(counters->completed.load()),
      static_cast<long long>(counters->first_start_us.load()),
      static_cast<long long>(counters->last_completed_us.load()),
      static_cast<long long>(counters->bad.load()));
  return run.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string mode = argv[1];
  if (mode == "enqueue" && argc == 5) {
    int jobs = ParsePositive(argv[4]);
    if (jobs < 0) {
      std::fprintf(stderr, "popqueue_scaling: JOBS must be a positive integer, not '%s'\n",
                   argv[4]);
      return 2;
    }
    return Enqueue(argv[2], argv[3], jobs);
  }
  if (mode == "count" && argc == 4) return Count(argv[2], argv[3]);
  if (mode == "work" && argc == 7) {
    int jobs = ParsePositive(argv[4]);
    int concurrency = ParsePositive(argv[5]);
    if (jobs < 0 || concurrency < 0) {
      std::fprintf(stderr, "popqueue_scaling: JOBS and CONCURRENCY must be positive integers\n");
      return 2;
    }
    return Work(argv[2], argv[3], jobs, concurrency, argv[6]);
  }
  return Usage();
}
