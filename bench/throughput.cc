// The benchmark harness for pop-queue (issue 9), through the public API, on
// any store. Two modes:
//
//   popqueue_bench [--db-url URL] [--jobs N] [--batch B] [--concurrency C]
//                  [--collection NAME]
//     W1 then W2 on the same jobs, human-readable (the original CLI).
//
//   popqueue_bench --workload w0|w1|w2|w3|w4 [--json] [--duration S]
//                  [--samples K] [--depth D] [--warmup K] [--queues Q]
//                  [the flags above]
//     One workload on fresh state, as scripts/bench runs it beside the peers
//     (bench/peers/): the same definitions, one JSON line with --json.
//
// W0 open (migrate) and close only: scripts/bench runs it on a fresh
//    database first, so the server counters of the measured run do not
//    include creating the schema.
// W1 enqueue N no-op jobs in batches of B (B = 1 uses Enqueue).
// W2 burn-down: N jobs enqueued first; from the first handler start to the
//    last completion the store recorded (the completer's event); checks that
//    every job ran exactly once.
// W3 steady state: a producer keeps enqueued - started >= 1.5 x depth, so at
//    least `depth` jobs wait in the store; handler starts over S seconds.
// W4 latency: concurrency 1, K sequential samples of enqueue call to handler
//    start (after `warmup` discarded ones); each job completes before the next.
// --queues Q (default 1: the default queue): job i goes to queue "q<i % Q>"
//    and the workers take all Q queues (each gets its share of the slots),
//    e.g. to spread a collection over the masters of a Redis Cluster
//    (bench/cluster.sh).
// Default store: a fresh SQLite file in /tmp, deleted at exit.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/mutex.h"
#include "popqueue/queue.h"
#ifdef POPQUEUE_BENCH_MONGODB
#include "store/mongodb/command_count.h"
#endif

#ifndef POPQUEUE_BENCH_VERSION
#define POPQUEUE_BENCH_VERSION "unknown"
#endif

namespace {

struct Args {
  std::string db_url;
  std::string collection = "bench_jobs";
  int jobs = 100000;
  int batch = 1000;
  int concurrency = 100;
  std::string workload;  // "" = the original W1+W2 run
  bool json = false;
  double duration = 60;
  int samples = 1000;
  int depth = 4000;
  int warmup = 10;
  int queues = 1;
};

bool Parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--json") {
      a.json = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    if (k == "--db-url")
      a.db_url = v;
    else if (k == "--jobs")
      a.jobs = std::atoi(v.c_str());
    else if (k == "--batch")
      a.batch = std::atoi(v.c_str());
    else if (k == "--concurrency")
      a.concurrency = std::atoi(v.c_str());
    else if (k == "--collection")
      a.collection = v;
    else if (k == "--workload")
      a.workload = v;
    else if (k == "--duration")
      a.duration = std::atof(v.c_str());
    else if (k == "--samples")
      a.samples = std::atoi(v.c_str());
    else if (k == "--depth")
      a.depth = std::atoi(v.c_str());
    else if (k == "--warmup")
      a.warmup = std::atoi(v.c_str());
    else if (k == "--queues")
      a.queues = std::atoi(v.c_str());
    else
      return false;
  }
  bool known = a.workload.empty() || a.workload == "w0" || a.workload == "w1" ||
               a.workload == "w2" || a.workload == "w3" || a.workload == "w4";
  return known && a.jobs > 0 && a.batch > 0 && a.concurrency > 0 && a.duration > 0 &&
         a.samples > 0 && a.depth >= 0 && a.warmup >= 0 && a.queues > 0;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  double l1, l5, l15;
  if (!(f >> l1 >> l5 >> l15)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%.2f,%.2f,%.2f]", l1, l5, l15);
  return buf;
}

// Counts handler starts and store-recorded completions; lets the workloads
// wait for either.
struct Tracker {
  popqueue::Mutex mu;
  int started ABSL_GUARDED_BY(mu) = 0;
  int completed ABSL_GUARDED_BY(mu) = 0;
  std::optional<absl::Time> first_start ABSL_GUARDED_BY(mu);
  std::vector<absl::Time> start_of ABSL_GUARDED_BY(mu);  // by payload index (W4)
  std::vector<std::atomic<int>>* runs = nullptr;         // W2 exactly-once
  std::atomic<int> bad{0};
  std::atomic<int> handled{0};  // W3, lock-free

  void Start(const popqueue::Job& job, int jobs) {
    int i = std::atoi(job.data.c_str());
    absl::Time now = absl::Now();
    handled.fetch_add(1, std::memory_order_relaxed);
    if (runs != nullptr) {
      if (i < 0 || i >= jobs)
        ++bad;
      else
        ++(*runs)[i];
    }
    popqueue::MutexLock lock(&mu);
    if (!first_start) first_start = now;
    ++started;
    if (i >= 0 && static_cast<size_t>(i) < start_of.size()) start_of[i] = now;
  }
  void Completed() {
    popqueue::MutexLock lock(&mu);
    ++completed;
  }
  // Waits until `n` jobs completed, printing progress every 2 s when `verbose`.
  void AwaitCompleted(int n, bool verbose) {
    popqueue::MutexLock lock(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return completed >= n; };
    while (!mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(2))) {
      if (verbose) std::fprintf(stderr, "  burn-down: %d/%d\n", completed, n);
    }
  }
};

class Bench {
 public:
  explicit Bench(Args args) : args_(std::move(args)) {}

  // Opens the queue with `concurrency` slots; false after printing why.
  bool Open(int concurrency) {
    popqueue::QueueConfig config{
        .db_url = args_.db_url, .collection = args_.collection, .retries = 0};
    config.worker.default_concurrency = concurrency;
    if (args_.queues > 1) {
      for (int q = 0; q < args_.queues; ++q) config.worker.queues.push_back(QueueOf(q));
      config.worker.max_concurrency = concurrency;
      config.worker.default_concurrency =
          std::max(1, (concurrency + args_.queues - 1) / args_.queues);
    }
    config.worker.handle_signals = false;
    config.worker.retain_completed = absl::ZeroDuration();
    queue_ = std::make_unique<popqueue::Queue>(config);
    if (!queue_->status().ok()) {
      std::fprintf(stderr, "bench: %s\n", std::string(queue_->status().message()).c_str());
      return false;
    }
    // Leftover unfinished jobs (from an earlier W1, say) would be processed
    // as this run's jobs and make every number wrong.
    auto counts = queue_->CountByState();
    if (!counts.ok()) {
      std::fprintf(stderr, "bench: %s\n", std::string(counts.status().message()).c_str());
      return false;
    }
    int64_t unfinished = 0;
    for (const auto& q : *counts) {
      for (const auto& [state, n] : q.by_state) {
        if (!popqueue::IsFinal(state)) unfinished += n;
      }
    }
    if (unfinished > 0) {
      std::fprintf(stderr,
                   "bench: collection %s already holds %lld unfinished jobs; "
                   "use a fresh --collection\n",
                   args_.collection.c_str(), static_cast<long long>(unfinished));
      return false;
    }
    return true;
  }

  bool EnqueueAll(int jobs, int batch) {
    for (int done = 0; done < jobs; done += batch) {
      if (!EnqueueRange(done, std::min(batch, jobs - done))) return false;
    }
    return true;
  }

  // --queues: "q<i>"; one queue: the default.
  std::string QueueOf(int i) const {
    return args_.queues > 1 ? "q" + std::to_string(i % args_.queues) : "";
  }

  bool EnqueueRange(int from, int n) {
    absl::Status s;
    if (n == 1) {
      popqueue::EnqueueOptions options;
      if (args_.queues > 1) options.queue = QueueOf(from);
      s = queue_->Enqueue("noop", std::to_string(from), options).status();
    } else {
      std::vector<popqueue::EnqueueRequest> batch;
      batch.reserve(n);
      for (int i = 0; i < n; ++i) {
        batch.push_back({.name = "noop", .data = std::to_string(from + i)});
        if (args_.queues > 1) batch.back().options.queue = QueueOf(from + i);
      }
      s = queue_->EnqueueMany(std::move(batch)).status();
    }
    if (!s.ok()) std::fprintf(stderr, "bench: enqueue: %s\n", std::string(s.message()).c_str());
    return s.ok();
  }

  bool StartWorkers() {
    int jobs = args_.jobs;
    queue_
        ->Define("noop",
                 [this, jobs](const popqueue::Job& job) {
                   tracker_.Start(job, jobs);
                   return true;
                 })
        .IgnoreError();
    queue_
        ->OnEvent([this](const popqueue::JobEvent& e) {
          if (e.kind == popqueue::JobEvent::Kind::kCompleted) tracker_.Completed();
        })
        .IgnoreError();
    absl::Status s = queue_->StartInBackground();
    if (!s.ok()) std::fprintf(stderr, "bench: start: %s\n", std::string(s.message()).c_str());
    return s.ok();
  }

  // W1. Returns seconds, or a negative number on failure.
  double W1(int batch) {
    absl::Time t0 = absl::Now();
    if (!EnqueueAll(args_.jobs, batch)) return -1;
    return absl::ToDoubleSeconds(absl::Now() - t0);
  }

  // W2 on jobs already enqueued. Returns seconds; sets exactly_once.
  double W2(int& exactly_once) {
    std::vector<std::atomic<int>> runs(args_.jobs);
    tracker_.runs = &runs;
    if (!StartWorkers()) return -1;
    tracker_.AwaitCompleted(args_.jobs, !args_.json);
    absl::Time t1 = absl::Now();
    queue_->Stop();
    absl::Time t0;
    {
      popqueue::MutexLock lock(&tracker_.mu);
      t0 = *tracker_.first_start;
    }
    exactly_once = 0;
    for (auto& r : runs) exactly_once += r.load() == 1;
    if (tracker_.bad > 0) exactly_once = -1;
    tracker_.runs = nullptr;
    return absl::ToDoubleSeconds(t1 - t0);
  }

  // W3. Returns handler starts in the window; sets min_depth and the number
  // of jobs enqueued in all.
  long W3(long& min_depth, long& total_enqueued) {
    const long target = args_.depth * 3L / 2;
    const int step = static_cast<int>(std::min(1000L, std::max(1L, target)));
    long enqueued = 0;
    for (; enqueued < target; enqueued += step) {
      if (!EnqueueRange(static_cast<int>(enqueued), step)) return -1;
    }
    if (!StartWorkers()) return -1;
    absl::Time t0;
    {
      popqueue::MutexLock lock(&tracker_.mu);
      auto started = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tracker_.mu) {
        return tracker_.first_start.has_value();
      };
      tracker_.mu.Await(absl::Condition(&started));
      t0 = *tracker_.first_start;
    }
    absl::Time end = t0 + absl::Seconds(args_.duration);
    min_depth = target;
    while (absl::Now() < end) {
      long depth = enqueued - tracker_.handled.load();
      min_depth = std::min(min_depth, depth);
      if (depth < target) {
        if (!EnqueueRange(static_cast<int>(enqueued), step)) return -1;
        enqueued += step;
      } else {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    long done = tracker_.handled.load();
    total_enqueued = enqueued;
    queue_->Stop();
    return done;
  }

  // W4. Returns the sorted latencies in ms (empty on failure).
  std::vector<double> W4() {
    const int total = args_.samples + args_.warmup;
    {
      popqueue::MutexLock lock(&tracker_.mu);
      tracker_.start_of.assign(total, absl::InfinitePast());
    }
    if (!StartWorkers()) return {};
    std::vector<double> ms;
    for (int i = 0; i < total; ++i) {
      absl::Time t0 = absl::Now();
      if (!EnqueueRange(i, 1)) return {};
      popqueue::MutexLock lock(&tracker_.mu);
      auto done = [&]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(tracker_.mu) { return tracker_.completed > i; };
      if (!tracker_.mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60))) {
        std::fprintf(stderr, "bench: sample %d did not complete within 60 s\n", i);
        return {};
      }
      if (i >= args_.warmup) {
        ms.push_back(absl::ToDoubleMilliseconds(tracker_.start_of[i] - t0));
      }
    }
    queue_->Stop();
    std::sort(ms.begin(), ms.end());
    return ms;
  }

 private:
  Args args_;
  std::unique_ptr<popqueue::Queue> queue_;
  Tracker tracker_;
};

// The original CLI: W1 then W2 on the same jobs, human-readable.
int RunOriginal(const Args& args) {
  Bench bench(args);
  if (!bench.Open(args.concurrency)) return 1;
  double enqueue_s = bench.W1(args.batch);
  if (enqueue_s < 0) return 1;
  int once = 0;
  double burn_s = bench.W2(once);
  if (burn_s < 0) return 1;
  std::printf("store: %s\n", args.db_url.substr(0, args.db_url.find("://")).c_str());
  std::printf("enqueue:   %d jobs in batches of %d: %.2fs = %.0f jobs/s\n", args.jobs, args.batch,
              enqueue_s, args.jobs / enqueue_s);
  std::printf("burn-down: %d jobs, %d slots: %.2fs = %.0f jobs/s\n", args.jobs, args.concurrency,
              burn_s, args.jobs / burn_s);
  std::printf("exactly once: %d/%d%s\n", std::max(once, 0), args.jobs,
              once < 0 ? " (bad payloads!)" : "");
  return once == args.jobs ? 0 : 1;
}

double Percentile(const std::vector<double>& sorted, double p) {
  size_t k = static_cast<size_t>(std::ceil(p / 100 * sorted.size()));
  return sorted[std::min(sorted.size() - 1, k == 0 ? 0 : k - 1)];
}

// Commands the MongoDB store has sent (store/mongodb/command_count.h), or -1
// when this build has no MongoDB store.
long long MongoCommands() {
#ifdef POPQUEUE_BENCH_MONGODB
  return popqueue::store::mongodb::CommandsSent();
#else
  return -1;
#endif
}

// One workload; prints a JSON line (--json) or a line of text. On MongoDB
// the line also carries the store's round trips over the measured part
// ("store_commands") and per job ("commands_per_job": per job enqueued for
// W1, per job run for W2 (enqueue excluded) and W3, per sample for W4).
int RunWorkload(const Args& args) {
  std::string load = LoadAverage();
  std::string backend = args.db_url.substr(0, args.db_url.find("://"));
  if (backend == "postgresql") backend = "postgres";
  Bench bench(args);
  if (!bench.Open(args.workload == "w4" ? 1 : args.concurrency)) return 1;
  char buf[512];
  std::string fields;
  std::string settings =
      "default options, " + std::to_string(args.workload == "w4" ? 1 : args.concurrency) +
      " slots; EnqueueMany (Enqueue for 1)" +
      (args.queues > 1 ? "; " + std::to_string(args.queues) + " queues" : std::string());
  bool ok = true;
  long long commands_before = MongoCommands();
  long long per = 0;  // jobs the commands are divided by
  if (args.workload == "w0") {
    fields = "\"jobs\":0";
  } else if (args.workload == "w1") {
    double s = bench.W1(args.batch);
    if (s < 0) return 1;
    per = args.jobs;
    std::snprintf(buf, sizeof buf, "\"jobs\":%d,\"batch\":%d,\"seconds\":%.4f,\"jobs_per_s\":%.1f",
                  args.jobs, args.batch, s, args.jobs / s);
    fields = buf;
  } else if (args.workload == "w2") {
    if (!bench.EnqueueAll(args.jobs, 1000)) return 1;
    commands_before = MongoCommands();
    per = args.jobs;
    int once = 0;
    double s = bench.W2(once);
    if (s < 0) return 1;
    ok = once == args.jobs;
    std::snprintf(buf, sizeof buf,
                  "\"jobs\":%d,\"concurrency\":%d,\"seconds\":%.4f,\"jobs_per_s\":%.1f,"
                  "\"exactly_once\":%d",
                  args.jobs, args.concurrency, s, args.jobs / s, once);
    fields = buf;
  } else if (args.workload == "w3") {
    long min_depth = 0, enqueued = 0;
    long done = bench.W3(min_depth, enqueued);
    if (done < 0) return 1;
    per = done;
    std::snprintf(buf, sizeof buf,
                  "\"seconds\":%g,\"concurrency\":%d,\"completed\":%ld,\"jobs_per_s\":%.1f,"
                  "\"min_depth\":%ld,\"enqueued\":%ld",
                  args.duration, args.concurrency, done, done / args.duration, min_depth, enqueued);
    fields = buf;
  } else {
    std::vector<double> ms = bench.W4();
    if (ms.empty()) return 1;
    per = static_cast<long long>(ms.size());
    std::snprintf(buf, sizeof buf,
                  "\"samples\":%zu,\"latency_ms\":{\"min\":%.3f,\"p50\":%.3f,\"p95\":%.3f,"
                  "\"p99\":%.3f,\"max\":%.3f}",
                  ms.size(), ms.front(), Percentile(ms, 50), Percentile(ms, 95), Percentile(ms, 99),
                  ms.back());
    fields = buf;
  }
  if (backend == "mongodb" && commands_before >= 0 && per > 0) {
    const long long commands = MongoCommands() - commands_before;
    std::snprintf(buf, sizeof buf, ",\"store_commands\":%lld,\"commands_per_job\":%.3f", commands,
                  static_cast<double>(commands) / per);
    fields += buf;
  }
  if (args.json) {
    std::printf(
        "{\"system\":\"pop-queue\",\"version\":%s,\"backend\":%s,\"workload\":%s,"
        "\"settings\":%s,\"load\":%s,\"ok\":%s,%s}\n",
        Quote(POPQUEUE_BENCH_VERSION).c_str(), Quote(backend).c_str(), Quote(args.workload).c_str(),
        Quote(settings).c_str(), load.c_str(), ok ? "true" : "false", fields.c_str());
  } else {
    std::printf("pop-queue %s %s: %s\n", backend.c_str(), args.workload.c_str(), fields.c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: popqueue_bench [--db-url URL] [--jobs N] [--batch B] "
                 "[--concurrency C] [--collection NAME]\n"
                 "                      [--workload w0|w1|w2|w3|w4 [--json] [--duration S] "
                 "[--samples K] [--depth D] [--warmup K] [--queues Q]]\n");
    return 2;
  }
  std::string cleanup;
  if (args.db_url.empty()) {
    cleanup = "/tmp/popqueue-bench-" + std::to_string(getpid()) + ".db";
    args.db_url = "sqlite://" + cleanup;
  }
  int rc = args.workload.empty() ? RunOriginal(args) : RunWorkload(args);
  if (!cleanup.empty()) {
    unlink(cleanup.c_str());
    unlink((cleanup + "-wal").c_str());
    unlink((cleanup + "-shm").c_str());
  }
  return rc;
}
