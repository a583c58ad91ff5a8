// popqueue::Queue: the public API, forwarding to Queue::Impl and the store.
#include "popqueue/queue.h"

#include "absl/strings/str_format.h"
#include "core/queue_impl.h"

namespace popqueue {

std::string_view JobEventKindName(JobEvent::Kind kind) {
  switch (kind) {
    case JobEvent::Kind::kStarted: return "started";
    case JobEvent::Kind::kCompleted: return "completed";
    case JobEvent::Kind::kRetrying: return "retrying";
    case JobEvent::Kind::kDead: return "dead";
    case JobEvent::Kind::kCancelled: return "cancelled";
    case JobEvent::Kind::kReleased: return "released";
    case JobEvent::Kind::kSnoozed: return "snoozed";
  }
  return "unknown";
}

Queue::Queue(std::string db_url, std::string cache_url, std::string db_name, std::string collection,
             int retries)
    : Queue(QueueConfig{.db_url = std::move(db_url),
                        .cache_url = std::move(cache_url),
                        .db_name = std::move(db_name),
                        .collection = std::move(collection),
                        .retries = retries}) {}

Queue::Queue(QueueConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

absl::StatusOr<std::unique_ptr<Queue>> Queue::Open(QueueConfig config) {
  auto q = std::make_unique<Queue>(std::move(config));
  if (!q->status().ok()) return q->status();
  return q;
}

Queue::~Queue() = default;

absl::Status Queue::status() const { return impl_->status(); }
const QueueConfig& Queue::config() const { return impl_->config(); }
std::string Queue::worker_id() const { return impl_->worker_id(); }

absl::Status Queue::Define(std::string name, Handler handler) {
  if (!handler) return impl_->Define(std::move(name), ContextHandler());
  return impl_->Define(std::move(name), [h = std::move(handler)](JobContext& ctx) -> absl::Status {
    if (h(ctx.job())) return absl::OkStatus();
    return absl::UnknownError("handler returned false");
  });
}

absl::Status Queue::Define(std::string name, ContextHandler handler) {
  return impl_->Define(std::move(name), std::move(handler));
}

absl::Status Queue::OnEvent(EventListener listener) { return impl_->OnEvent(std::move(listener)); }

absl::StatusOr<EnqueueResult> Queue::Now(const Job& job, std::string_view name,
                                         std::string_view identifier, std::time_t score) {
  if (score < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("score: must be a Unix time in seconds >= 0, got %d", score));
  }
  EnqueueOptions options{.queue = job.queue,
                         .identifier = std::string(identifier),
                         .priority = job.priority,
                         .run_at = absl::FromTimeT(score)};
  if (job.max_attempts > 0) options.max_attempts = job.max_attempts;
  if (job.timeout > absl::ZeroDuration()) options.timeout = job.timeout;
  return Enqueue(name, job.data, options);
}

absl::StatusOr<EnqueueResult> Queue::Enqueue(std::string_view name, std::string data,
                                             const EnqueueOptions& options) {
  std::vector<EnqueueRequest> one;
  one.push_back(
      EnqueueRequest{.name = std::string(name), .data = std::move(data), .options = options});
  auto results = impl_->EnqueueMany(std::move(one));
  if (!results.ok()) return results.status();
  return results->front();
}

absl::StatusOr<std::vector<EnqueueResult>> Queue::EnqueueMany(
    std::vector<EnqueueRequest> requests) {
  return impl_->EnqueueMany(std::move(requests));
}

absl::Status Queue::Every(std::string_view name, std::string_view cron_expression, std::string data,
                          EveryOptions options) {
  return impl_->Every(name, cron_expression, std::move(data), std::move(options));
}

absl::Status Queue::Start() { return impl_->Start(); }
absl::Status Queue::StartInBackground() { return impl_->StartInBackground(); }
void Queue::Stop() { impl_->Stop(); }
bool Queue::running() const { return impl_->running(); }
absl::Status Queue::StartMaintenance() { return impl_->StartMaintenance(); }
bool Queue::is_leader() const { return impl_->is_leader(); }
std::vector<ScheduleInfo> Queue::Schedules() const { return impl_->Schedules(); }

ConcurrencyStats Queue::Concurrency() const {
  std::shared_ptr<core::Runtime> runtime = impl_->runtime();
  if (!runtime || runtime->stopped()) return {};
  return runtime->concurrency();
}

absl::Status Queue::RegisterWorker() { return impl_->RegisterWorker(); }
absl::Status Queue::DeregisterWorker() { return impl_->DeregisterWorker(); }
absl::StatusOr<int> Queue::RedistributeJobs() { return impl_->RedistributeJobs(); }

absl::StatusOr<Job> Queue::GetJob(JobId id) {
  if (!status().ok()) return status();
  return impl_->store()->JobGet(store::JobGetParams{.id = id});
}

absl::StatusOr<JobPage> Queue::ListJobs(const JobFilter& filter) {
  if (!status().ok()) return status();
  if (filter.limit < 1 || filter.limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrFormat("limit: must be 1-1000, got %d", filter.limit));
  }
  return impl_->store()->JobList(store::JobListParams{.filter = filter});
}

absl::StatusOr<std::vector<QueueCounts>> Queue::CountByState() {
  if (!status().ok()) return status();
  return impl_->store()->JobCountByState();
}

absl::StatusOr<std::vector<QueueInfo>> Queue::ListQueues() {
  if (!status().ok()) return status();
  return impl_->store()->QueueList();
}

absl::StatusOr<std::vector<std::optional<absl::Time>>> Queue::OldestDue(
    const std::vector<std::string>& queues) {
  if (!status().ok()) return status();
  return impl_->store()->QueueOldestDue(
      store::QueueOldestDueParams{.queues = queues, .now = impl_->Now()});
}

absl::StatusOr<std::vector<WorkerInfo>> Queue::ListWorkers() {
  if (!status().ok()) return status();
  return impl_->ListWorkers();
}

absl::StatusOr<Job> Queue::Requeue(JobId id) { return impl_->Requeue(id); }

absl::StatusOr<Job> Queue::Cancel(JobId id) { return impl_->Cancel(id); }

absl::Status Queue::Delete(JobId id) {
  if (!status().ok()) return status();
  return impl_->store()->JobDelete(store::JobDeleteParams{.id = id});
}

absl::Status Queue::PauseQueue(std::string_view queue) {
  if (!status().ok()) return status();
  return impl_->store()->QueuePause(
      store::QueueNameParams{.queue = std::string(queue), .now = impl_->Now()});
}

absl::Status Queue::ResumeQueue(std::string_view queue) {
  if (!status().ok()) return status();
  return impl_->store()->QueueResume(
      store::QueueNameParams{.queue = std::string(queue), .now = impl_->Now()});
}

}  // namespace popqueue
