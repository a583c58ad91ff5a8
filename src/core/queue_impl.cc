#include "core/queue_impl.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/field_error.h"
#include "common/host_address.h"
#include "common/job_json.h"
#include "common/log.h"
#include "common/thread.h"
#include "core/maintenance.h"
#include "core/signals.h"
#include "store/registry.h"

namespace popqueue {
namespace {

constexpr int kMaxPriority = 1000000;
constexpr size_t kMaxNameBytes = 255;
constexpr size_t kMaxQueueBytes = 128;
// The largest max_attempts a job may have (retries + 1 stays below it).
constexpr int kMaxAttemptsLimit = 10000;

std::string DefaultWorkerId() {
  return absl::StrFormat("%s-%d-%04x", LocalHostname(), getpid(),
                         static_cast<int>(RandomToken() & 0xffff));
}

absl::Status ValidateQueueName(const std::string& q) {
  bool ok = !q.empty() && q.size() <= kMaxQueueBytes;
  for (char c : q) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
                c == ':');
  }
  if (ok) return absl::OkStatus();
  return FieldError("queue", absl::StrFormat("\"%s\" is not a valid queue name: expected 1-%d "
                                             "characters of A-Z a-z 0-9 _ - . :",
                                             q, kMaxQueueBytes));
}

absl::Status ValidateConfig(const QueueConfig& c) {
  if (c.retries < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("retries must be >= 0, got %d", c.retries));
  }
  if (c.retries >= kMaxAttemptsLimit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("retries must be < %d, got %d", kMaxAttemptsLimit, c.retries));
  }
  const WorkerOptions& w = c.worker;
  if (w.default_concurrency < 1) {
    return absl::InvalidArgumentError("worker.default_concurrency must be >= 1");
  }
  for (const auto& [q, n] : w.concurrency) {
    if (absl::Status s = ValidateQueueName(q); !s.ok()) return s;
    if (n < 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("worker.concurrency[%s] must be >= 1, got %d", q, n));
    }
  }
  for (const std::string& q : w.queues) {
    if (absl::Status s = ValidateQueueName(q); !s.ok()) return s;
  }
  if (w.lease < absl::Seconds(1)) {
    return absl::InvalidArgumentError("worker.lease must be at least 1s");
  }
  if (w.poll_interval <= absl::ZeroDuration() || w.heartbeat_interval <= absl::ZeroDuration() ||
      w.rescue_interval <= absl::ZeroDuration() || w.default_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("worker intervals and default_timeout must be positive");
  }
  if (w.leader_ttl <= w.rescue_interval) {
    return absl::InvalidArgumentError(
        "worker.leader_ttl must be longer than worker.rescue_interval");
  }
  if (absl::Status s = core::ValidateLimits(w); !s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace

Queue::Impl::Impl(QueueConfig config)
    : config_(std::move(config)), clock_(config_.clock ? config_.clock : Clock::Real()) {
  status_ = ValidateConfig(config_);
  if (status_.ok()) {
    auto store = store::OpenStore(store::StoreConfig{
        .url = config_.db_url, .db_name = config_.db_name, .collection = config_.collection});
    if (store.ok()) {
      store_ = std::move(*store);
    } else {
      status_ = store.status();
    }
  }
  OpenCoordinator();
  worker_id_ = config_.worker.worker_id.empty() ? DefaultWorkerId() : config_.worker.worker_id;
}

Queue::Impl::~Impl() { Stop(); }

void Queue::Impl::OpenCoordinator() {
  if (!status_.ok()) return;
  // Processes of one queue (same database and collection) share a namespace
  // on the coordinator; other queues on the same server do not see it.
  auto c = coord::OpenCoordinator(config_.cache_url,
                                  absl::StrCat(config_.db_name, "/", config_.collection));
  if (c.ok()) {
    coordinator_ = std::move(*c);
  } else {
    status_ = c.status();
  }
}

absl::Status Queue::Impl::Define(std::string name, ContextHandler handler) {
  if (!status_.ok()) return status_;
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("job name must be 1-%d bytes", kMaxNameBytes));
  }
  if (!handler) {
    return absl::InvalidArgumentError(absl::StrFormat("handler for \"%s\" is empty", name));
  }
  MutexLock lock(&mu_);
  if (runtime_) {
    return absl::FailedPreconditionError(
        absl::StrFormat("Define(\"%s\") after Start(): define handlers first", name));
  }
  if (handlers_.count(name)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("a handler for \"%s\" is already defined", name));
  }
  handlers_[std::move(name)] = std::move(handler);
  return absl::OkStatus();
}

absl::Status Queue::Impl::OnEvent(EventListener listener) {
  if (!listener) return absl::InvalidArgumentError("event listener is empty");
  MutexLock lock(&mu_);
  if (runtime_) return absl::FailedPreconditionError("OnEvent() after Start()");
  listeners_.push_back(std::move(listener));
  return absl::OkStatus();
}

absl::Status Queue::Impl::Every(std::string_view name, std::string_view expression,
                                std::string data, EveryOptions options) {
  if (!status_.ok()) return status_;
  auto schedule = core::CronSchedule::Parse(expression, options.time_zone);
  if (!schedule.ok()) return schedule.status();
  if (options.catch_up_window <= absl::ZeroDuration()) {
    return FieldError("catch_up_window", "must be positive");
  }
  std::string id = options.schedule_id.empty() ? absl::StrFormat("%s %s", name, expression)
                                               : options.schedule_id;
  // Check the job options now rather than at the first fire.
  EnqueueRequest probe{.name = std::string(name), .data = data, .options = options.job};
  probe.options.run_at.reset();
  probe.options.delay.reset();
  if (auto job = Validate(probe, clock_->Now()); !job.ok()) return job.status();
  MutexLock lock(&mu_);
  if (runtime_) return absl::FailedPreconditionError("Every() after Start()");
  for (const core::CronEntry& e : schedules_) {
    if (e.id == id) {
      return absl::AlreadyExistsError(absl::StrFormat("schedule \"%s\" is already defined", id));
    }
  }
  schedules_.push_back(core::CronEntry{.id = std::move(id),
                                       .schedule = std::move(*schedule),
                                       .options = std::move(options),
                                       .name = std::string(name),
                                       .data = std::move(data)});
  return absl::OkStatus();
}

absl::StatusOr<store::NewJob> Queue::Impl::Validate(const EnqueueRequest& r, absl::Time now) {
  const EnqueueOptions& o = r.options;
  if (r.name.empty() || r.name.size() > kMaxNameBytes) {
    return FieldError("name", absl::StrFormat("job name must be 1-%d bytes", kMaxNameBytes));
  }
  std::string queue = o.queue.empty() ? std::string(kDefaultQueue) : o.queue;
  if (absl::Status s = ValidateQueueName(queue); !s.ok()) return s;
  if (o.identifier.size() > kMaxNameBytes) {
    return FieldError("identifier", absl::StrFormat("at most %d bytes", kMaxNameBytes));
  }
  if (r.data.size() > config_.max_payload_bytes) {
    return FieldError("data", absl::StrFormat("payload of %d bytes exceeds the limit of %d bytes",
                                              r.data.size(), config_.max_payload_bytes));
  }
  if (o.priority < -kMaxPriority || o.priority > kMaxPriority) {
    return FieldError("priority",
                      absl::StrFormat("must be between %d and %d", -kMaxPriority, kMaxPriority));
  }
  if (o.run_at && o.delay) {
    return absl::InvalidArgumentError("run_at and delay are exclusive: set one");
  }
  if (o.delay && *o.delay < absl::ZeroDuration()) {
    return FieldError("delay", "must not be negative");
  }
  int max_attempts = o.max_attempts.value_or(config_.retries + 1);
  if (max_attempts < 1 || max_attempts > kMaxAttemptsLimit) {
    return FieldError("max_attempts",
                      absl::StrFormat("must be 1-%d, got %d", kMaxAttemptsLimit, max_attempts));
  }
  if (o.timeout && *o.timeout <= absl::ZeroDuration()) {
    return FieldError("timeout", "must be positive");
  }
  if (o.backoff_base && *o.backoff_base <= absl::ZeroDuration()) {
    return FieldError("backoff_base", "must be positive");
  }
  if (absl::Status s = ValidateMetadata(o.metadata); !s.ok()) return s;
  absl::Time run_at = o.run_at ? *o.run_at : now + o.delay.value_or(absl::ZeroDuration());
  return store::NewJob{.id = ids_.Next(now),
                       .queue = std::move(queue),
                       .name = r.name,
                       .identifier = o.identifier,
                       .data = r.data,
                       .priority = o.priority,
                       .max_attempts = max_attempts,
                       .run_at = run_at,
                       .timeout = o.timeout.value_or(absl::ZeroDuration()),
                       .backoff_base = o.backoff_base.value_or(absl::ZeroDuration()),
                       .metadata = EncodeMetadata(o.metadata)};
}

absl::StatusOr<std::vector<EnqueueResult>> Queue::Impl::EnqueueMany(
    std::vector<EnqueueRequest> requests) {
  if (!status_.ok()) return status_;
  if (requests.empty()) return std::vector<EnqueueResult>{};
  absl::Time now = clock_->Now();
  store::JobInsertManyParams params{.now = now};
  params.jobs.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto job = Validate(requests[i], now);
    if (!job.ok()) {
      if (requests.size() == 1) return job.status();
      return PrefixField(job.status(), absl::StrFormat("jobs[%d].", i));
    }
    params.jobs.push_back(std::move(*job));
  }
  // An id collision (two processes drew the same random bits in the same
  // millisecond) stores nothing; draw new ids and try again.
  for (int attempt = 0;; ++attempt) {
    auto result = store_->JobInsertMany(params);
    if (!absl::IsAlreadyExists(result.status()) || attempt == 3) {
      if (result.ok() && core::UseCoordinatorWake(*store_, coordinator_.get())) {
        std::set<std::string> queues;
        for (size_t i = 0; i < result->size(); ++i) {
          const EnqueueResult& r = (*result)[i];
          if (r.inserted && r.state == JobState::kAvailable) queues.insert(params.jobs[i].queue);
        }
        for (const std::string& q : queues) PublishAvailable(q);
      }
      return result;
    }
    ids_.Reseed();
    for (store::NewJob& j : params.jobs) j.id = ids_.Next(clock_->Now());
  }
}

absl::StatusOr<Job> Queue::Impl::Requeue(JobId id) {
  if (!status_.ok()) return status_;
  auto job = store_->JobRequeue(store::JobRequeueParams{.id = id, .now = clock_->Now()});
  if (job.ok() && job->state == JobState::kAvailable &&
      core::UseCoordinatorWake(*store_, coordinator_.get())) {
    PublishAvailable(job->queue);
  }
  return job;
}

void Queue::Impl::PublishAvailable(const std::string& queue) {
  // Best effort: the job is stored; workers that miss this find it by polling.
  if (absl::Status s = coordinator_->WakePublish(queue); !s.ok()) {
    Logf(LogLevel::kDebug, "publishing a wake-up for queue %s failed: %s", queue,
         std::string(s.message()));
  }
}

absl::Status Queue::Impl::StartInBackground() {
  if (!status_.ok()) return status_;
  bool need_register = false;
  // The workers' runtime elects and maintains from now on. StartMaintenance()'s
  // is stopped outside mu_: its rescuer's events go through Emit(), which
  // takes mu_.
  std::unique_ptr<core::Maintenance> maintenance;
  {
    MutexLock lock(&mu_);
    if (runtime_ && !runtime_->stopped()) {
      return absl::FailedPreconditionError("workers already running");
    }
    maintenance = std::move(maintenance_);
  }
  if (maintenance) maintenance->Stop();
  {
    MutexLock lock(&mu_);
    if (runtime_ && !runtime_->stopped()) {
      return absl::FailedPreconditionError("workers already running");
    }
    core::RuntimeParams params{.store = store_,
                               .clock = clock_,
                               .options = config_.worker,
                               .worker_id = worker_id_,
                               .handlers = handlers_,
                               .listeners = listeners_,
                               .coordinator = coordinator_};
    runtime_ = std::make_shared<core::Runtime>(std::move(params));
    if (absl::Status s = runtime_->Start(); !s.ok()) return s;
    StartSchedulerLocked();
    need_register = !registered_;
    registered_ = true;
  }
  if (need_register) {
    if (absl::Status s = RegisterWorker(); !s.ok()) {
      Logf(LogLevel::kWarn, "registering worker failed: %s", std::string(s.message()));
    }
  }
  if (shared_coordinator()) {
    MutexLock lock(&mu_);
    if (!presence_) {
      presence_ = std::make_unique<coord::WorkerPresence>(
          coordinator_, Self(), registry_interval(),
          [runtime = runtime_] { return runtime->running(); });
      presence_->Start();
    }
  }
  Logf(LogLevel::kInfo, "worker %s started", worker_id_);
  return absl::OkStatus();
}

void Queue::Impl::StartSchedulerLocked() {
  if (schedules_.empty() || scheduler_) return;
  scheduler_ = std::make_shared<core::Scheduler>(
      store_, clock_, schedules_, [this](const core::CronEntry& e, absl::Time fire) {
        EnqueueRequest r{.name = e.name, .data = e.data, .options = e.options.job};
        r.options.delay.reset();
        r.options.run_at = fire;
        return Validate(r, clock_->Now());
      });
  scheduler_->Start();
}

absl::Status Queue::Impl::StartMaintenance() {
  if (!status_.ok()) return status_;
  MutexLock lock(&mu_);
  if (runtime_ && !runtime_->stopped()) return absl::OkStatus();  // its own does it
  if (maintenance_) return absl::FailedPreconditionError("maintenance already running");
  maintenance_ =
      std::make_unique<core::Maintenance>(store_, clock_, config_.worker, worker_id_, coordinator_,
                                          [this](const JobEvent& e) { Emit(e); });
  maintenance_->Start();
  StartSchedulerLocked();
  Logf(LogLevel::kInfo, "%s: maintenance (leader election, rescuer, cleaner) started", worker_id_);
  return absl::OkStatus();
}

std::vector<ScheduleInfo> Queue::Impl::Schedules() {
  const absl::Time now = clock_->Now();
  std::vector<ScheduleInfo> out;
  MutexLock lock(&mu_);
  for (const core::CronEntry& e : schedules_) {
    ScheduleInfo info{
        .id = e.id,
        .name = e.name,
        .expression = e.schedule.expression(),
        .time_zone = e.schedule.time_zone(),
        .queue = e.options.job.queue.empty() ? std::string(kDefaultQueue) : e.options.job.queue,
        .missed = e.options.missed};
    if (auto next = e.schedule.Next(now); next.ok()) info.next_fire = *next;
    out.push_back(std::move(info));
  }
  return out;
}

bool Queue::Impl::is_leader() {
  MutexLock lock(&mu_);
  if (maintenance_) return maintenance_->is_leader();
  return runtime_ && runtime_->is_leader();
}

absl::Status Queue::Impl::Start() {
  if (absl::Status s = StartInBackground(); !s.ok()) return s;
  std::shared_ptr<core::Runtime> runtime;
  {
    MutexLock lock(&mu_);
    runtime = runtime_;
  }
  int handle = 0;
  if (config_.worker.handle_signals) {
    handle = core::AddStopSignalCallback([this] { Stop(); });
  }
  // The watcher takes the stop signals while this thread waits.
  std::optional<BlockStopSignals> blocked;
  if (handle) blocked.emplace();
  runtime->Wait();
  if (handle) core::RemoveStopSignalCallback(handle);
  return absl::OkStatus();
}

void Queue::Impl::Stop() {
  std::shared_ptr<core::Runtime> runtime;
  std::shared_ptr<core::Scheduler> scheduler;
  std::unique_ptr<coord::WorkerPresence> presence;
  std::unique_ptr<core::Maintenance> maintenance;
  std::shared_ptr<core::RemoteWorkers> remote;
  bool registered;
  {
    MutexLock lock(&mu_);
    runtime = runtime_;
    scheduler = std::move(scheduler_);
    presence = std::move(presence_);
    maintenance = std::move(maintenance_);
    remote = remote_workers_;
    registered = registered_;
    registered_ = false;
  }
  if (remote) remote->StopWaiting();  // long-polling fetches return now
  if (scheduler) scheduler->Stop();
  if (maintenance) maintenance->Stop();  // resigns
  if (presence) presence->Stop();        // before deregistering: no late beat
  if (!runtime) return;
  runtime->Stop();
  if (registered) {
    if (absl::Status s = DeregisterWorker(); !s.ok()) {
      Logf(LogLevel::kWarn, "deregistering worker failed: %s", std::string(s.message()));
    }
  }
}

bool Queue::Impl::running() {
  MutexLock lock(&mu_);
  return runtime_ && !runtime_->stopped();
}

WorkerInfo Queue::Impl::Self() const {
  // The registry's server sees this host by the address of the route to it
  // (found at registration, so the one the connection itself takes).
  WorkerInfo w{
      .id = worker_id_,
      .host = LocalHostname(),
      .address = RegistryAddress(shared_coordinator() ? config_.cache_url : config_.db_url),
      .pid = getpid(),
      .queues = config_.worker.queues,
      .started_at = clock_->Now()};
  if (w.queues.empty()) w.queues.push_back(kDefaultQueue);
  return w;
}

absl::Duration Queue::Impl::registry_interval() const {
  const WorkerOptions& w = config_.worker;
  return std::min(w.heartbeat_interval, w.lease / 3);
}

absl::Status Queue::Impl::RegisterWorker() {
  if (!status_.ok()) return status_;
  WorkerInfo w = Self();
  if (shared_coordinator()) {
    // The same ttl the presence heartbeats with (three beats + 5 s).
    return coordinator_->WorkerRegister(coord::WorkerRegisterParams{
        .worker = w, .ttl = 3 * registry_interval() + absl::Seconds(5)});
  }
  return store_->WorkerRegister(store::WorkerRegisterParams{.worker = w, .now = clock_->Now()});
}

absl::Status Queue::Impl::DeregisterWorker() {
  if (!status_.ok()) return status_;
  if (shared_coordinator()) {
    std::unique_ptr<coord::WorkerPresence> presence;
    {
      MutexLock lock(&mu_);
      presence = std::move(presence_);
    }
    if (presence) presence->Stop();  // a late beat would register it again
    return coordinator_->WorkerDeregister(worker_id_);
  }
  return store_->WorkerDeregister(store::WorkerDeregisterParams{.worker_id = worker_id_});
}

absl::Status Queue::Impl::RegistryUpsert(const WorkerInfo& worker) {
  if (!status_.ok()) return status_;
  if (shared_coordinator()) {
    return coordinator_->WorkerRegister(coord::WorkerRegisterParams{
        .worker = worker, .ttl = 3 * registry_interval() + absl::Seconds(5)});
  }
  const absl::Time now = clock_->Now();
  // The store's register resets `running`; its heartbeat sets it.
  if (absl::Status s = store_->WorkerRegister({.worker = worker, .now = now}); !s.ok()) return s;
  return store_->WorkerHeartbeat(
      store::WorkerHeartbeatParams{.worker_id = worker.id, .running = worker.running, .now = now});
}

absl::Status Queue::Impl::RegistryRemove(const std::string& worker_id) {
  if (!status_.ok()) return status_;
  if (shared_coordinator()) return coordinator_->WorkerDeregister(worker_id);
  return store_->WorkerDeregister(store::WorkerDeregisterParams{.worker_id = worker_id});
}

void Queue::Impl::Emit(const JobEvent& event) {
  std::vector<EventListener> listeners;
  {
    MutexLock lock(&mu_);
    listeners = listeners_;
  }
  for (const EventListener& l : listeners) {
    try {
      l(event);
    } catch (...) {
      Logf(LogLevel::kWarn, "an event listener threw; ignored");
    }
  }
}

bool Queue::Impl::has_listeners() {
  MutexLock lock(&mu_);
  return !listeners_.empty();
}

std::shared_ptr<core::RemoteWorkers> Queue::Impl::remote_workers() {
  MutexLock lock(&mu_);
  if (!remote_workers_) {
    remote_workers_ =
        std::make_shared<core::RemoteWorkers>(store_, coordinator_, clock_, config_.worker);
  }
  return remote_workers_;
}

absl::StatusOr<std::vector<WorkerInfo>> Queue::Impl::ListWorkers() {
  if (!status_.ok()) return status_;
  if (shared_coordinator()) return coordinator_->WorkerList();
  // A worker is live while it heartbeats; allow three missed beats.
  return store_->WorkerList(store::WorkerListParams{
      .now = clock_->Now(), .ttl = 3 * registry_interval() + absl::Seconds(5)});
}

absl::StatusOr<Job> Queue::Impl::Cancel(JobId id) {
  if (!status_.ok()) return status_;
  auto job = store_->JobCancel(store::JobCancelParams{.id = id, .now = clock_->Now()});
  if (job.ok() && job->state == JobState::kRunning) {
    std::shared_ptr<core::Runtime> runtime;
    {
      MutexLock lock(&mu_);
      runtime = runtime_;
    }
    if (runtime) runtime->RequestCancel(id);
  }
  return job;
}

absl::StatusOr<int> Queue::Impl::RedistributeJobs() {
  if (!status_.ok()) return status_;
  auto rescued =
      core::Maintenance::Rescue(*store_, clock_->Now(), [this](const JobEvent& e) { Emit(e); });
  if (!rescued.ok()) return rescued.status();
  return static_cast<int>(rescued->size());
}

}  // namespace popqueue
