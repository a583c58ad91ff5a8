#include "core/remote_workers.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "core/runtime.h"

namespace popqueue::core {
namespace {

// The queue rate limits only: a job-name limit cannot be applied to a
// fetch that returns at once (the local runtime holds such jobs until their
// turn; see docs/grpc.md).
WorkerOptions QueueLimitsOnly(WorkerOptions options) {
  options.job_rate_limits.clear();
  return options;
}

}  // namespace

RemoteWorkers::RemoteWorkers(std::shared_ptr<store::Store> store,
                             std::shared_ptr<coord::Coordinator> coordinator, Clock* clock,
                             const WorkerOptions& options)
    : store_(std::move(store)),
      coordinator_(std::move(coordinator)),
      clock_(clock),
      options_(options),
      // As Queue::Impl's own registry interval.
      registry_interval_(std::min(options.heartbeat_interval, options.lease / 3)) {
  {
    MutexLock lock(&gate_mu_);
    gate_ = std::make_unique<RateGate>(coordinator_, QueueLimitsOnly(options_));
    limited_ = gate_->active() || !options_.concurrency.empty() || options_.max_concurrency > 0;
  }
  if (store_ && store_->SupportsNotify()) {
    auto sub = store_->Subscribe([this](const std::string& q) { OnNotify(q); });
    if (sub.ok()) subscription_ = *sub;
  }
  if (store_ && UseCoordinatorWake(*store_, coordinator_.get())) {
    auto sub = coordinator_->WakeSubscribe([this](const std::string& q) { OnNotify(q); });
    if (sub.ok()) {
      wake_subscription_ = *sub;
    } else {
      Logf(LogLevel::kWarn, "remote workers: subscribing to wake-ups failed: %s",
           std::string(sub.status().message()));
    }
  }
}

RemoteWorkers::~RemoteWorkers() {
  StopWaiting();
  if (subscription_ >= 0) store_->Unsubscribe(subscription_);
  if (wake_subscription_ >= 0) coordinator_->WakeUnsubscribe(wake_subscription_);
}

void RemoteWorkers::PruneLocked(absl::Time now) {
  // A worker's entry stays as long as the registry would list it.
  const absl::Duration keep = 3 * registry_interval_ + absl::Seconds(5);
  for (auto w = workers_.begin(); w != workers_.end();) {
    for (auto h = w->second.held.begin(); h != w->second.held.end();) {
      if (h->second.expires < now) {
        holder_.erase(h->first);
        h = w->second.held.erase(h);
      } else {
        ++h;
      }
    }
    if (w->second.held.empty() && w->second.seen + keep < now) {
      w = workers_.erase(w);
    } else {
      ++w;
    }
  }
  pruned_ = now;
}

int RemoteWorkers::Allowance(const std::string& worker, const std::string& queue, int want) {
  {
    MutexLock lock(&mu_);
    PruneLocked(clock_->Now());
    int in_queue = 0;
    int total = 0;
    if (auto w = workers_.find(worker); w != workers_.end()) {
      for (const auto& [id, h] : w->second.held) {
        ++total;
        if (h.job.queue == queue) ++in_queue;
      }
    }
    if (auto it = options_.concurrency.find(queue); it != options_.concurrency.end()) {
      want = std::min(want, it->second - in_queue);
    }
    if (options_.max_concurrency > 0) want = std::min(want, options_.max_concurrency - total);
  }
  if (want <= 0) return 0;
  MutexLock lock(&gate_mu_);
  return gate_->QueueAllowance(queue, want);
}

void RemoteWorkers::Claimed(const std::string& worker, const std::string& queue, int asked,
                            const std::vector<Job>& jobs) {
  if (!queue.empty()) {
    MutexLock lock(&gate_mu_);
    gate_->QueueClaimed(queue, asked, static_cast<int>(jobs.size()));
  }
  if (jobs.empty()) return;
  MutexLock lock(&mu_);
  Worker& w = workers_[worker];
  for (const Job& job : jobs) {
    Held& h = w.held[job.id];
    h.job = job;
    // Kept small: a worker may hold a thousand jobs of a megabyte each.
    h.job.data.clear();
    h.job.errors.clear();
    h.job.result.reset();
    h.expires = job.lease_expires_at.value_or(clock_->Now());
    holder_[job.id] = worker;
  }
}

std::optional<Job> RemoteWorkers::Release(JobId id) {
  MutexLock lock(&mu_);
  auto it = holder_.find(id);
  if (it == holder_.end()) return std::nullopt;
  std::optional<Job> job;
  if (auto w = workers_.find(it->second); w != workers_.end()) {
    if (auto h = w->second.held.find(id); h != w->second.held.end()) {
      job = std::move(h->second.job);
      w->second.held.erase(h);
    }
  }
  holder_.erase(it);
  return job;
}

void RemoteWorkers::Beat(const std::string& worker, const std::vector<JobId>& extended,
                         absl::Duration lease) {
  MutexLock lock(&mu_);
  auto w = workers_.find(worker);
  if (w == workers_.end()) return;
  const absl::Time until = clock_->Now() + lease;
  for (JobId id : extended) {
    if (auto h = w->second.held.find(id); h != w->second.held.end()) h->second.expires = until;
  }
}

std::optional<WorkerInfo> RemoteWorkers::Touch(const std::string& worker,
                                               const std::string& address,
                                               const std::vector<std::string>& queues,
                                               bool force, const WorkerInfo* info) {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  if (pruned_ + registry_interval_ < now) PruneLocked(now);
  Worker& w = workers_[worker];
  bool due = force || w.written + registry_interval_ <= now;
  if (w.info.id.empty()) {
    w.info.id = worker;
    w.info.started_at = now;
    due = true;
  }
  if (!address.empty() && address != w.info.address) {
    w.info.address = address;
    if (w.info.host.empty() || info == nullptr) w.info.host = address;
  }
  if (info != nullptr) {
    if (!info->host.empty()) w.info.host = info->host;
    w.info.pid = info->pid;
  }
  if (!queues.empty()) {
    std::vector<std::string> sorted = queues;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    if (sorted != w.info.queues) {
      w.info.queues = std::move(sorted);
      due = true;
    }
  }
  w.seen = now;
  if (!due) return std::nullopt;
  w.written = now;
  WorkerInfo out = w.info;
  out.running = static_cast<int>(w.held.size());
  out.last_heartbeat_at = now;
  return out;
}

void RemoteWorkers::Forget(const std::string& worker) {
  MutexLock lock(&mu_);
  auto w = workers_.find(worker);
  if (w == workers_.end()) return;
  for (const auto& [id, h] : w->second.held) holder_.erase(id);
  workers_.erase(w);
}

void RemoteWorkers::OnNotify(const std::string& queue) {
  MutexLock lock(&wake_mu_);
  // "" = wake-ups may have been lost: every queue.
  if (queue.empty()) {
    ++all_;
  } else {
    ++generation_[queue];
  }
}

RemoteWorkers::Snapshot RemoteWorkers::Take(const std::vector<std::string>& queues) {
  MutexLock lock(&wake_mu_);
  Snapshot s{.all = all_};
  for (const std::string& q : queues) {
    auto it = generation_.find(q);
    s.per_queue.push_back(it == generation_.end() ? 0 : it->second);
  }
  return s;
}

bool RemoteWorkers::Wait(const std::vector<std::string>& queues, const Snapshot& seen,
                         absl::Time until) {
  MutexLock lock(&wake_mu_);
  bool notified = false;
  auto moved = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
    if (stopping_) return true;
    if (all_ != seen.all) return notified = true;
    for (size_t i = 0; i < queues.size(); ++i) {
      auto it = generation_.find(queues[i]);
      if ((it == generation_.end() ? 0 : it->second) != seen.per_queue[i]) return notified = true;
    }
    return false;
  };
  // Real time: the deadline is the caller's wall-clock wait.
  wake_mu_.AwaitWithDeadline(absl::Condition(&moved), until);
  return notified && !stopping_;
}

void RemoteWorkers::StopWaiting() {
  MutexLock lock(&wake_mu_);
  stopping_ = true;
}

bool RemoteWorkers::stopping() {
  MutexLock lock(&wake_mu_);
  return stopping_;
}

}  // namespace popqueue::core
