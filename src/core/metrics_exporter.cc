// popqueue/metrics.h over the registry the servers use (server/metrics.h),
// which is compiled into the library for that reason.
#include "popqueue/metrics.h"

#include <utility>

#include "server/metrics.h"

namespace popqueue {

absl::StatusOr<std::unique_ptr<MetricsExporter>> MetricsExporter::Attach(Queue& queue) {
  auto metrics = std::make_shared<server::Metrics>(queue.config().clock);
  // The listener holds the registry, not the exporter: events that arrive
  // after the exporter is gone still have somewhere to go.
  absl::Status s = queue.OnEvent([metrics](const JobEvent& e) { metrics->Record(e); });
  if (!s.ok()) return s;
  return std::unique_ptr<MetricsExporter>(new MetricsExporter(queue, std::move(metrics)));
}

MetricsExporter::MetricsExporter(Queue& queue, std::shared_ptr<server::Metrics> metrics)
    : queue_(queue), metrics_(std::move(metrics)) {}

MetricsExporter::~MetricsExporter() = default;

std::string MetricsExporter::Text() { return server::RenderMetricsText(queue_, *metrics_); }

void MetricsExporter::RecordEnqueued(std::string_view name, int64_t n) {
  metrics_->RecordEnqueued(std::string(name), n);
}

}  // namespace popqueue
