#include "core/remote_workers.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/log.h"
#include "core/runtime.h"

namespace popqueue::core {
namespace {

// The keeper's tick; held jobs are heartbeaten every third of their lease
// (at least 1 s), so this bounds how late a beat can be.
constexpr absl::Duration kKeeperTick = absl::Milliseconds(100);

absl::Duration LeaseOf(const Job& job) {
  if (job.lease_expires_at && job.picked_at && *job.lease_expires_at > *job.picked_at) {
    return *job.lease_expires_at - *job.picked_at;
  }
  return absl::Seconds(1);
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
  limited_ = RateGate(coordinator_, options_).active() || !options_.concurrency.empty() ||
             options_.max_concurrency > 0;
  bool name_limits = false;
  for (const auto& [name, limit] : options_.job_rate_limits) name_limits |= limit.limit > 0;
  if (name_limits) keeper_ = std::thread([this] { KeepLoop(); });
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
  ReleaseHeld();
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

absl::StatusOr<std::vector<Job>> RemoteWorkers::ClaimLimited(const std::string& worker,
                                                             const std::string& queue, int want,
                                                             const ClaimFn& claim) {
  std::shared_ptr<Gate> gate;
  {
    MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    PruneLocked(now);
    Worker& w = workers_[worker];
    w.seen = std::max(w.seen, now);  // not pruned before the fetch's Touch()
    int in_queue = 0;
    for (const auto& [id, h] : w.held) in_queue += h.job.queue == queue ? 1 : 0;
    if (auto it = options_.concurrency.find(queue); it != options_.concurrency.end()) {
      want = std::min(want, it->second - in_queue);
    }
    if (options_.max_concurrency > 0) {
      want = std::min(want, options_.max_concurrency - static_cast<int>(w.held.size()));
    }
    if (want <= 0) return std::vector<Job>{};
    if (!w.gate) w.gate = std::make_shared<Gate>(coordinator_, options_);
    gate = w.gate;
  }
  std::vector<Job> out;
  std::vector<std::shared_ptr<Execution>> cancelled;
  absl::Status failed;
  {
    MutexLock lock(&gate->mu);
    // Jobs held for their name's turn go first, then a claim for the rest.
    std::map<std::string, int> slots{{queue, want}};
    std::vector<std::shared_ptr<Execution>> due = gate->gate.ReleaseDue(slots, cancelled);
    for (const auto& e : due) gate->beat_due.erase(e->job.id);
    for (const auto& e : cancelled) gate->beat_due.erase(e->job.id);
    if (!due.empty()) {
      // They start now: a fresh lease, so the worker is told a true expiry
      // (the keeper extended it meanwhile). One whose lease was lost is
      // dropped; its slot goes to the claim below.
      const absl::Time now = clock_->Now();
      std::map<absl::Duration, std::vector<std::shared_ptr<Execution>>> by_lease;
      for (const auto& e : due) by_lease[LeaseOf(e->job)].push_back(e);
      for (const auto& [lease, execs] : by_lease) {
        store::JobHeartbeatManyParams params{.now = now, .lease = lease};
        for (const auto& e : execs) {
          params.items.push_back({.id = e->job.id, .lease_token = e->job.lease_token});
        }
        auto beat = store_->JobHeartbeatMany(params);
        std::set<JobId> extended;
        if (beat.ok()) extended.insert(beat->extended.begin(), beat->extended.end());
        for (const auto& e : execs) {
          if (!beat.ok() || extended.count(e->job.id)) {
            Job job = e->job;
            // Unconfirmed when the beat failed: the old expiry, the keeper's
            // last extension being at least that.
            if (beat.ok()) job.lease_expires_at = now + lease;
            out.push_back(std::move(job));
          } else {
            ++slots[queue];
          }
        }
      }
    }
    const int ask = gate->gate.QueueAllowance(queue, slots[queue]);
    if (ask > 0) {
      auto claimed = claim(ask);
      if (!claimed.ok()) {
        gate->gate.QueueClaimed(queue, ask, 0);
        failed = claimed.status();
      } else {
        gate->gate.QueueClaimed(queue, ask, static_cast<int>(claimed->size()));
        std::vector<std::shared_ptr<Execution>> execs;
        for (Job& job : *claimed) execs.push_back(std::make_shared<Execution>(std::move(job)));
        std::set<JobId> admitted;
        for (const auto& e : gate->gate.Admit(execs)) {
          admitted.insert(e->job.id);
          out.push_back(e->job);
        }
        const absl::Time now = clock_->Now();
        for (const auto& e : execs) {
          if (e && !admitted.count(e->job.id)) {
            gate->beat_due[e->job.id] = now + LeaseOf(e->job) / 3;
          }
        }
      }
    }
  }
  if (!cancelled.empty()) {
    // Cancel() was asked for while they waited: they end cancelled unstarted.
    store::JobFailManyParams params{.now = clock_->Now()};
    for (const auto& e : cancelled) {
      params.items.push_back(store::JobFailItem{.id = e->job.id,
                                                .lease_token = e->job.lease_token,
                                                .to = JobState::kCancelled,
                                                .run_at = params.now,
                                                .error = "cancelled before it started",
                                                .has_dependants = !e->job.dependants.empty()});
    }
    if (auto done = store_->JobFailMany(params); !done.ok()) {
      Logf(LogLevel::kWarn, "remote workers: cancelling held jobs failed: %s",
           std::string(done.status().message()));
    }
  }
  if (!failed.ok() && out.empty()) return failed;  // else hand out what there is
  MutexLock lock(&mu_);
  HandOutLocked(worker, out);
  return out;
}

void RemoteWorkers::Claimed(const std::string& worker, const std::vector<Job>& jobs) {
  if (jobs.empty()) return;
  MutexLock lock(&mu_);
  HandOutLocked(worker, jobs);
}

void RemoteWorkers::HandOutLocked(const std::string& worker, const std::vector<Job>& jobs) {
  if (jobs.empty()) return;
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

void RemoteWorkers::KeepLoop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return keeper_stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), kKeeperTick)) return;
    }
    KeepOnce();
  }
}

void RemoteWorkers::KeepOnce() {
  std::vector<std::shared_ptr<Gate>> gates;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, w] : workers_) {
      if (w.gate) gates.push_back(w.gate);
    }
  }
  for (const auto& g : gates) {
    // The held jobs due for a beat, grouped by lease length.
    std::map<absl::Duration, std::vector<std::shared_ptr<Execution>>> due;
    const absl::Time now = clock_->Now();
    {
      MutexLock lock(&g->mu);
      for (const auto& e : g->gate.Held()) {
        if (e->finalized.load()) continue;
        auto it = g->beat_due.find(e->job.id);
        if (it != g->beat_due.end() && it->second > now) continue;
        due[LeaseOf(e->job)].push_back(e);
      }
    }
    for (const auto& [lease, execs] : due) {
      store::JobHeartbeatManyParams params{.now = now, .lease = lease};
      for (const auto& e : execs) {
        params.items.push_back({.id = e->job.id, .lease_token = e->job.lease_token});
      }
      auto beat = store_->JobHeartbeatMany(params);
      if (!beat.ok()) {
        Logf(LogLevel::kWarn, "remote workers: keeping held leases failed: %s",
             std::string(beat.status().message()));
        continue;  // tried again next tick
      }
      std::set<JobId> extended(beat->extended.begin(), beat->extended.end());
      std::set<JobId> cancel(beat->cancel_requested.begin(), beat->cancel_requested.end());
      MutexLock lock(&g->mu);
      for (const auto& e : execs) {
        if (!extended.count(e->job.id)) {
          e->Finalize();  // lost: ReleaseDue drops it
          g->beat_due.erase(e->job.id);
          continue;
        }
        if (cancel.count(e->job.id)) e->RequestStop(StopReason::kCancelRequested);
        g->beat_due[e->job.id] = now + std::max(lease / 3, absl::Milliseconds(300));
      }
    }
  }
}

void RemoteWorkers::ReleaseHeld() {
  std::vector<std::shared_ptr<Gate>> gates;
  {
    MutexLock lock(&mu_);
    if (keeper_stop_) return;
    keeper_stop_ = true;
    for (const auto& [id, w] : workers_) {
      if (w.gate) gates.push_back(w.gate);
    }
  }
  if (keeper_.joinable()) keeper_.join();
  store::JobFailManyParams params{.now = clock_->Now()};
  for (const auto& g : gates) {
    MutexLock lock(&g->mu);
    for (const auto& e : g->gate.TakeAllHeld()) {
      if (!e->Finalize()) continue;
      // As the local runtime releases held jobs at shutdown: retryable now.
      params.items.push_back(store::JobFailItem{
          .id = e->job.id,
          .lease_token = e->job.lease_token,
          .to = JobState::kRetryable,
          .run_at = params.now,
          .error = "released unstarted: the server stopped while the job waited for its "
                   "job-name rate limit",
          .has_dependants = !e->job.dependants.empty()});
    }
  }
  if (params.items.empty()) return;
  if (auto done = store_->JobFailMany(params); !done.ok()) {
    Logf(LogLevel::kWarn, "remote workers: releasing %d held jobs failed: %s",
         static_cast<int>(params.items.size()), std::string(done.status().message()));
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

std::optional<Job> RemoteWorkers::Find(JobId id) {
  MutexLock lock(&mu_);
  auto it = holder_.find(id);
  if (it == holder_.end()) return std::nullopt;
  auto w = workers_.find(it->second);
  if (w == workers_.end()) return std::nullopt;
  auto h = w->second.held.find(id);
  if (h == w->second.held.end()) return std::nullopt;
  return h->second.job;
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
                                               const std::vector<std::string>& queues, bool force,
                                               const WorkerInfo* info) {
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
  {
    MutexLock lock(&wake_mu_);
    stopping_ = true;
  }
  ReleaseHeld();
}

bool RemoteWorkers::stopping() {
  MutexLock lock(&wake_mu_);
  return stopping_;
}

}  // namespace popqueue::core
