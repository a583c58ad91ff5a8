// Metrics: counters and histograms of this process's job activity, fed by
// Queue::OnEvent (and by the servers for enqueues), rendered in Prometheus
// text format at /metrics and as per-minute series for /api/stats.
//
//   server::Metrics metrics;
//   queue.OnEvent(metrics.Listener());   // before queue.Start()
//   options.metrics = &metrics;
//   HttpServer::Start(&queue, options);
//
// Counts are per process: a fleet is summed by Prometheus. Jobs-by-state
// gauges and queue lag come from the store at scrape time (see the HTTP
// server), not from here.
//
// Thread-safety: every method may be called from any thread.
#ifndef POPQUEUE_SERVER_METRICS_H_
#define POPQUEUE_SERVER_METRICS_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "popqueue/clock.h"
#include "popqueue/job.h"
#include "popqueue/queue.h"

namespace popqueue::server {

// One minute of throughput.
struct ThroughputPoint {
  absl::Time minute;  // start of the minute (UTC)
  int64_t enqueued = 0;
  int64_t completed = 0;
  int64_t failed = 0;  // failed attempts (retrying or dead)
  int64_t dead = 0;
};

// Job counts by state at one moment.
struct StateSample {
  absl::Time at;
  std::map<JobState, int64_t> counts;
};

class Metrics {
 public:
  // Upper bounds (seconds) of the processing-time histogram buckets.
  static constexpr std::array<double, 14> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  60,   300};
  // Upper bounds (seconds) of the queue-wait histogram (start - run_at).
  static constexpr std::array<double, 14> kWaitBuckets = {0.001, 0.005, 0.01, 0.05, 0.1,  0.5, 1, 5,
                                                          10,    30,    60,   300,  1800, 3600};
  // Distinct job names with series of their own; events of further names
  // are counted under the name kOtherName, so a name made per job (an id in
  // the name) cannot grow the scrape without bound.
  static constexpr size_t kMaxNames = 500;
  static constexpr char kOtherName[] = "(other)";
  static constexpr int kThroughputMinutes = 60;
  static constexpr int kStateSamples = 360;
  static constexpr absl::Duration kStateSampleEvery = absl::Seconds(10);

  // `clock` is not owned; nullptr = real time.
  explicit Metrics(Clock* clock = nullptr);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A listener for Queue::OnEvent. It refers to this object, which must
  // outlive the queue's workers.
  EventListener Listener();
  void Record(const JobEvent& event);
  // `n` jobs named `name` were newly enqueued through a server.
  void RecordEnqueued(const std::string& name, int64_t n = 1);
  // Keeps `counts` as a point of the states-over-time series when the last
  // point is at least kStateSampleEvery old. Cheap to call often.
  void MaybeRecordStates(const std::map<JobState, int64_t>& counts);

  // The counters and histograms in Prometheus text format (with HELP/TYPE).
  std::string RenderPrometheus() const;
  // The last kThroughputMinutes minutes, oldest first, one point per minute
  // (zeros where nothing happened).
  std::vector<ThroughputPoint> Throughput() const;
  std::vector<StateSample> States() const;

 private:
  // One histogram series: non-cumulative bucket counts over `bounds`.
  template <size_t N>
  struct Histogram {
    std::array<int64_t, N> buckets{};
    int64_t count = 0;
    double sum = 0;
    void Observe(const std::array<double, N>& bounds, double value) {
      auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
      if (it != bounds.end()) ++buckets[it - bounds.begin()];
      ++count;
      sum += value;
    }
  };
  struct PerName {
    int64_t enqueued = 0;
    int64_t completed = 0;
    int64_t failed = 0;
    int64_t dead = 0;
    int64_t cancelled = 0;
    Histogram<kBuckets.size()> duration;  // handler run time
    Histogram<kWaitBuckets.size()> wait;  // due time to start
  };
  // The series of `name`, or of kOtherName once kMaxNames names have series.
  PerName& NameLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends one histogram metric (HELP, TYPE, a series per name).
  template <size_t N>
  void AppendHistogram(std::string* out, const char* metric, const char* help,
                       const std::array<double, N>& bounds, Histogram<N> PerName::*series) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ThroughputPoint& MinuteLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  mutable Mutex mu_;
  std::map<std::string, PerName> by_name_ ABSL_GUARDED_BY(mu_);
  std::deque<ThroughputPoint> minutes_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::deque<StateSample> states_ ABSL_GUARDED_BY(mu_);
};

// This process's worker concurrency (Queue::Concurrency()) as Prometheus
// gauges: popqueue_concurrency_limit (the limit in force, lowered under load
// when resource-aware), popqueue_concurrency_configured, popqueue_concurrency_
// running, popqueue_rate_limit_held_jobs and, when resource-aware,
// popqueue_load_cpu_ratio / popqueue_load_memory_ratio; and the handlers
// asked to stop: popqueue_handlers_stopping, popqueue_handlers_overdue
// (gauges), popqueue_handler_overruns_total and
// popqueue_handler_overrun_seconds_total (counters). Empty when this
// process runs no workers.
std::string RenderConcurrency(const ConcurrencyStats& stats);

// The whole text of GET /metrics for `queue`: metrics' counters and
// histograms, RenderConcurrency, and the store's figures read now
// (popqueue_store_up, popqueue_jobs by queue and state, popqueue_queue_lag_
// seconds, popqueue_queue_paused); also keeps the state counts as a point of
// metrics' states-over-time series. Every store figure costs O(queues): kept
// counts (QueueList) and one index-served oldest-due lookup per queue
// (docs/benchmarks.md, "Admin figures at scale").
// Served with MetricsExporter::kContentType (popqueue/metrics.h).
std::string RenderMetricsText(Queue& queue, Metrics& metrics);

// `value` escaped for a Prometheus label value (backslash, quote, newline).
std::string PrometheusLabel(const std::string& value);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_METRICS_H_
