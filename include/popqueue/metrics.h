// Prometheus metrics for programs that link the library: the same families
// `popqueue worker --metrics-address` and `popqueue serve` give at /metrics
// (docs/metrics.md), for you to serve from your own HTTP endpoint.
//
//   auto metrics = popqueue::MetricsExporter::Attach(queue);  // before Start()
//   if (!metrics.ok()) ...;
//   queue.StartInBackground();
//   // in your web framework's handler for GET /metrics:
//   reply(200, popqueue::MetricsExporter::kContentType, (*metrics)->Text());
//
// Counts are this process's (a fleet is summed by Prometheus); the job
// gauges (by queue and state), queue lag and paused flags are read from the
// store at each Text() call, so any one process shows the whole store's.
//
// Thread-safety: every method may be called from any thread.
#ifndef POPQUEUE_METRICS_H_
#define POPQUEUE_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "popqueue/queue.h"

namespace popqueue {

namespace server {
class Metrics;
}  // namespace server

class MetricsExporter {
 public:
  // The Content-Type of Text(): Prometheus' text exposition format 0.0.4.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Counts the job events of `queue`'s workers from now on (it subscribes
  // with Queue::OnEvent, so call it before Start()). `queue` must outlive
  // the exporter; the exporter may go before the queue stops (its counts
  // are shared with the subscription).
  static absl::StatusOr<std::unique_ptr<MetricsExporter>> Attach(Queue& queue);
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // The text of GET /metrics: popqueue_jobs_{completed,failed,dead,
  // cancelled}_total and the run-time and queue-wait histograms by job name
  // (at most 500 names; further ones are counted as "(other)"), this
  // process's concurrency gauges, and the store's popqueue_store_up,
  // popqueue_jobs{queue,state}, popqueue_queue_lag_seconds and
  // popqueue_queue_paused. Costs O(queues) store reads.
  std::string Text();

  // Counts `n` jobs named `name` that this program enqueued, for
  // popqueue_jobs_enqueued_total (the Queue's enqueue calls do not count
  // them by themselves).
  void RecordEnqueued(std::string_view name, int64_t n = 1);

 private:
  MetricsExporter(Queue& queue, std::shared_ptr<server::Metrics> metrics);

  Queue& queue_;
  const std::shared_ptr<server::Metrics> metrics_;
};

}  // namespace popqueue

#endif  // POPQUEUE_METRICS_H_
