#include "core/runtime.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/thread.h"
#include "core/retry_policy.h"

namespace popqueue::core {
namespace {

// Claiming ahead (see runtime.h): how many claim round trips of work, and
// the weight of a new sample in the smoothed times.
constexpr double kAheadClaims = 2;
constexpr double kSmoothing = 0.2;

double Smooth(double mean, double sample) {
  return mean == 0 ? sample : mean + kSmoothing * (sample - mean);
}

class ContextImpl : public JobContext {
 public:
  explicit ContextImpl(Execution* e) : e_(e) {}
  const Job& job() const override { return e_->job; }
  bool cancelled() const override { return e_->stop() != StopReason::kNone; }
  absl::Time stop_deadline() const override {
    return cancelled() ? e_->return_by() : absl::InfiniteFuture();
  }
  void SetProgress(int percent) override { e_->progress.store(std::clamp(percent, 0, 100)); }
  void SetResult(std::string result) override { result_ = std::move(result); }
  std::optional<std::string>& result() { return result_; }

 private:
  Execution* e_;
  std::optional<std::string> result_;
};

std::string_view StopReasonText(StopReason r) {
  switch (r) {
    case StopReason::kCancelRequested: return "cancelled";
    case StopReason::kTimeout: return "timed out";
    case StopReason::kLeaseLost: return "lease lost";
    case StopReason::kShutdown: return "worker shutting down";
    case StopReason::kNone: break;
  }
  return "";
}

}  // namespace

Runtime::Runtime(RuntimeParams params) : p_(std::move(params)), limiter_(p_.options) {
  for (auto& [name, handler] : p_.handlers) {
    handlers_[name] = std::make_shared<const ContextHandler>(std::move(handler));
  }
  p_.handlers.clear();
  gate_ = std::make_unique<RateGate>(p_.coordinator, p_.options);
  if (gate_->active() && !p_.coordinator) {
    // No coordinator given: limits hold within this process.
    auto local = coord::OpenCoordinator("");
    if (local.ok()) {
      gate_ = std::make_unique<RateGate>(std::move(*local), p_.options);
    } else {
      init_ = local.status();
    }
  }
  if (p_.options.resource.enabled) {
    monitor_ = std::make_unique<ResourceMonitor>(p_.options.resource, limiter_.configured(),
                                                 [this](int limit) {
                                                   MutexLock lock(&mu_);
                                                   limiter_.SetLimit(limit);
                                                   wake_ = true;
                                                 });
  }
}

Runtime::~Runtime() { Stop(); }

absl::Status Runtime::Start() {
  {
    MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("workers already started");
    if (!init_.ok()) return init_;
    started_ = true;
  }
  completer_ = std::make_unique<Completer>(p_.store, p_.clock, &in_flight_,
                                           p_.options.completer_flush, p_.options.completer_batch,
                                           [this](const JobEvent& e) { Emit(e); });
  heartbeater_ = std::make_unique<Heartbeater>(
      p_.store, p_.clock, &in_flight_, p_.options, p_.worker_id,
      [this](const std::shared_ptr<Execution>& e) {
        Logf(LogLevel::kError,
             "job %d (%s): the handler ignores the stop request (%s): still running %s "
             "after it; its slot stays busy until it returns",
             e->job.id, e->job.name, StopReasonText(e->stop()),
             absl::FormatDuration(p_.options.stop_grace));
      },
      /*store_registry=*/!p_.coordinator || !p_.coordinator->SharedAcrossProcesses());
  EventListener emit;  // the rescuer's kDead events
  if (!p_.listeners.empty()) emit = [this](const JobEvent& e) { Emit(e); };
  maintenance_ = std::make_unique<Maintenance>(p_.store, p_.clock, p_.options, p_.worker_id,
                                               p_.coordinator, std::move(emit));
  if (p_.store->SupportsNotify()) {
    auto sub = p_.store->Subscribe([this](const std::string& q) { OnNotify(q); });
    if (sub.ok()) subscription_ = *sub;
  }
  if (UseCoordinatorWake(*p_.store, p_.coordinator.get())) {
    auto sub = p_.coordinator->WakeSubscribe([this](const std::string& q) { OnNotify(q); });
    if (sub.ok()) {
      wake_subscription_ = *sub;
    } else {
      // Polling still finds every job; only the wake-up latency suffers.
      Logf(LogLevel::kWarn, "subscribing to the coordinator's wake-ups failed: %s",
           std::string(sub.status().message()));
    }
  }
  completer_->Start();
  heartbeater_->Start();
  maintenance_->Start();
  if (monitor_) monitor_->Start();
  int threads = 0;
  {
    MutexLock lock(&mu_);
    threads = limiter_.configured();
  }
  for (int i = 0; i < threads; ++i) {
    auto slot = std::make_shared<ExecutorSlot>();
    slot->thread = StartThread([this, slot] { ExecLoop(slot); });
    executors_.push_back(std::move(slot));
  }
  fetcher_ = StartThread([this] { FetchLoop(); });
  return absl::OkStatus();
}

void Runtime::OnNotify(const std::string& queue) {
  MutexLock lock(&mu_);
  // "" = wake-ups may have been lost: look at every queue.
  if (queue.empty() || limiter_.Has(queue)) wake_ = true;
}

int Runtime::running() {
  MutexLock lock(&mu_);
  return limiter_.busy();
}

ConcurrencyStats Runtime::concurrency() {
  ConcurrencyStats s;
  {
    MutexLock lock(&mu_);
    s.limit = limiter_.limit();
    s.configured = limiter_.configured();
    s.running = limiter_.busy();
  }
  s.held = gate_->held();
  for (const auto& e : in_flight_.Snapshot()) {
    if (!e->started() || e->finalized.load() || e->stop() == StopReason::kNone) continue;
    ++s.stopping;
    if (e->overdue.load()) ++s.overdue;
  }
  {
    MutexLock lock(&mu_);
    s.overruns = overruns_;
    s.overrun_seconds = overrun_seconds_;
  }
  s.resource_aware = monitor_ != nullptr;
  if (monitor_) s.load = monitor_->last_reading();
  return s;
}

void Runtime::RequestCancel(JobId id) {
  if (auto e = in_flight_.Find(id)) {
    e->RequestStop(StopReason::kCancelRequested, p_.clock->Now(), p_.options.stop_grace);
    heartbeater_->Wake();
  }
}

bool Runtime::stopped() {
  MutexLock lock(&mu_);
  return stopped_;
}

void Runtime::FetchLoop() {
  absl::Duration error_backoff = absl::ZeroDuration();
  while (true) {
    std::vector<std::pair<std::string, int>> wanted;
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      wanted = limiter_.FreeSlots();
    }
    if (gate_->held() > 0) {
      // Jobs held for a name limit were claimed first: they get slots first.
      std::map<std::string, int> free(wanted.begin(), wanted.end());
      std::vector<std::shared_ptr<Execution>> cancelled;
      std::vector<std::shared_ptr<Execution>> start;
      for (const auto& held : gate_->ReleaseDue(free, cancelled)) {
        if (auto e = Unhold(held)) start.push_back(std::move(e));
      }
      for (const auto& e : cancelled) {
        if (e->Finalize()) {
          completer_->Add(Decide(e, absl::CancelledError("cancelled before it started"),
                                 std::nullopt, absl::ZeroDuration()));
        }
      }
      Enqueue(std::move(start));
      for (auto& [queue, n] : wanted) n = free[queue];
    }
    // Free slots go to jobs claimed ahead first; then each queue claims for
    // its remaining free slots plus what it should have ahead, or only to
    // refill its jobs ahead once half of them are gone.
    struct Want {
      std::string queue;
      int ask;
      int free;
    };
    std::vector<Want> plan;
    std::vector<std::shared_ptr<Execution>> from_ahead;
    {
      MutexLock lock(&mu_);
      std::map<std::string, int> free_by_queue(wanted.begin(), wanted.end());
      for (const std::string& queue : limiter_.queues()) {
        int free = free_by_queue[queue];
        while (free > 0) {
          std::shared_ptr<Execution> e = TakeAheadLocked(queue);
          if (e == nullptr) break;
          from_ahead.push_back(std::move(e));
          --free;
        }
        Ahead& ahead = ahead_[queue];
        const int target = AheadTargetLocked(queue, ahead);
        const int deficit = std::max(0, target - static_cast<int>(ahead.jobs.size()));
        if (free > 0) {
          plan.push_back({queue, free + deficit, free});
        } else if (ahead.more && deficit > 0 && 2 * deficit >= target) {
          plan.push_back({queue, deficit, 0});
        }
      }
    }
    for (const auto& waiting : from_ahead) {
      if (std::shared_ptr<Execution> e = StartAhead(waiting)) {
        MutexLock lock(&mu_);
        ready_.push_back(std::move(e));
      }
    }
    bool failed = false;
    for (const Want& w : plan) {
      if (!Claim(w.queue, w.ask, w.free)) {
        failed = true;
        break;
      }
    }
    heartbeater_->Wake();
    error_backoff = failed
                        ? std::clamp(error_backoff * 2, absl::Milliseconds(100), absl::Seconds(5))
                        : absl::ZeroDuration();
    absl::Duration wait = p_.options.poll_interval;
    if (gate_->active()) {
      wait = std::clamp(gate_->NextWake() - absl::Now(), absl::Milliseconds(1), wait);
    }
    MutexLock lock(&mu_);
    // Fetch again at once when a queue with more work has free slots.
    if (!failed && limiter_.ShouldFetchAgain() && !wake_) continue;
    auto cond = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; };
    if (!failed) {
      mu_.AwaitWithTimeout(absl::Condition(&cond), wait);
    } else {
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), error_backoff);
    }
    wake_ = false;
  }
}

bool Runtime::Claim(const std::string& queue, int want, int free) {
  int ask = gate_->QueueAllowance(queue, want);
  if (ask == 0) {
    // Over its rate limit: the gate's NextWake() brings the fetcher back.
    MutexLock lock(&mu_);
    limiter_.SetMore(queue, false);
    return true;
  }
  absl::Time now = p_.clock->Now();
  const absl::Time t0 = absl::Now();
  auto claimed = p_.store->JobClaim(store::JobClaimParams{.queues = {queue},
                                                          .worker_id = p_.worker_id,
                                                          .limit = ask,
                                                          .now = now,
                                                          .lease = p_.options.lease,
                                                          .lease_token = RandomToken()});
  if (!claimed.ok()) {
    Logf(LogLevel::kWarn, "fetching jobs of queue %s failed: %s", queue,
         std::string(claimed.status().message()));
    gate_->QueueClaimed(queue, ask, 0);
    return false;
  }
  const int got = static_cast<int>(claimed->size());
  gate_->QueueClaimed(queue, ask, got);
  const double claim_seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  std::vector<std::shared_ptr<Execution>> execs;
  execs.reserve(claimed->size());
  for (Job& job : *claimed) {
    auto e = std::make_shared<Execution>(std::move(job));
    e->started_at = now;  // held jobs keep an infinite deadline until they start
    execs.push_back(std::move(e));
  }
  // Without rate limits every claimed job starts; otherwise the gate holds
  // those over their name's limit.
  std::vector<std::shared_ptr<Execution>> admitted;
  if (gate_->active()) admitted = gate_->Admit(execs);
  // Beyond the free slots: claimed ahead, waiting for a slot (never with a
  // rate gate, whose asks never exceed the free slots).
  std::vector<std::shared_ptr<Execution>> ahead;
  if (!gate_->active() && static_cast<int>(execs.size()) > free) {
    ahead.assign(execs.begin() + free, execs.end());
    execs.resize(free);
  }
  std::vector<std::shared_ptr<Execution>>& start = gate_->active() ? admitted : execs;
  // Set before the executions are shared: read by the heartbeater.
  for (auto& e : start) SetDeadline(*e, now);
  for (auto& e : execs) in_flight_.Add(e);  // held ones too: their leases live
  for (auto& e : ahead) in_flight_.Add(e);
  const bool more = got >= ask && !gate_->QueueBlocked(queue);
  MutexLock lock(&mu_);
  limiter_.SetMore(queue, more);
  limiter_.Acquire(queue, static_cast<int>(start.size()));
  for (auto& e : start) ready_.push_back(std::move(e));
  claim_seconds_ = Smooth(claim_seconds_, std::max(claim_seconds, 1e-6));
  Ahead& waiting = ahead_[queue];
  waiting.more = more;
  for (auto& e : ahead) waiting.jobs.push_back(std::move(e));
  return true;
}

void Runtime::SetDeadline(Execution& e, absl::Time now) const {
  e.started_at = now;
  e.deadline =
      now + (e.job.timeout > absl::ZeroDuration() ? e.job.timeout : p_.options.default_timeout);
}

std::shared_ptr<Execution> Runtime::Unhold(const std::shared_ptr<Execution>& held) {
  // Claims the held record's outcome so the heartbeater leaves it alone; the
  // attempt continues under a fresh record with the same lease.
  if (!held->Finalize()) return nullptr;
  auto e = std::make_shared<Execution>(held->job);
  SetDeadline(*e, p_.clock->Now());
  if (held->stop() != StopReason::kNone) {
    e->RequestStop(held->stop(), p_.clock->Now(), p_.options.stop_grace);
  }
  in_flight_.Add(e);
  return e;
}

void Runtime::Enqueue(std::vector<std::shared_ptr<Execution>> execs) {
  if (execs.empty()) return;
  MutexLock lock(&mu_);
  for (auto& e : execs) {
    limiter_.Acquire(e->job.queue, 1);
    ready_.push_back(std::move(e));
  }
}

void Runtime::ExecLoop(const std::shared_ptr<ExecutorSlot>& slot) {
  // The slot's lock is held except while a handler runs (see ExecutorSlot).
  slot->mu.Lock();
  std::shared_ptr<Execution> exec;
  while (true) {
    if (exec == nullptr) {
      MutexLock lock(&mu_);
      auto cond = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return exit_ || !ready_.empty(); };
      mu_.Await(absl::Condition(&cond));
      if (ready_.empty()) break;
      exec = std::move(ready_.front());
      ready_.pop_front();
    }
    // Real time, whatever the queue's clock: it sizes the claims ahead.
    const absl::Time t0 = absl::Now();
    if (!Run(exec, *slot)) {
      // Abandoned by Stop(): the Runtime may be gone; touch nothing of it.
      slot->mu.Unlock();
      return;
    }
    const double handler_seconds = absl::ToDoubleSeconds(absl::Now() - t0);
    const std::string queue = exec->job.queue;
    std::shared_ptr<Execution> next;
    {
      MutexLock lock(&mu_);
      limiter_.Release(queue);
      Ahead& ahead = ahead_[queue];
      ahead.handler_seconds = Smooth(ahead.handler_seconds, std::max(handler_seconds, 1e-6));
      // The slot just freed goes to the next job claimed ahead, if any.
      next = TakeAheadLocked(queue);
      const int target = AheadTargetLocked(queue, ahead);
      const bool refill =
          target > 0 && ahead.more && 2 * static_cast<int>(ahead.jobs.size()) <= target;
      if (refill || limiter_.ShouldFetchAgain() || gate_->held() > 0) wake_ = true;
    }
    exec = next != nullptr ? StartAhead(next) : nullptr;
  }
  slot->done = true;
  slot->mu.Unlock();
}

int Runtime::AheadTargetLocked(const std::string& queue, const Ahead& a) const {
  if (p_.options.max_prefetch <= 0 || gate_->active() || p_.store->SerializesClaims() ||
      a.handler_seconds <= 0 || claim_seconds_ <= 0) {
    return 0;
  }
  // Jobs the queue's slots finish during kAheadClaims claims.
  double n = limiter_.limit(queue) * kAheadClaims * claim_seconds_ / a.handler_seconds;
  return static_cast<int>(std::min<double>(n, p_.options.max_prefetch));
}

std::shared_ptr<Execution> Runtime::TakeAheadLocked(const std::string& queue) {
  auto it = ahead_.find(queue);
  if (stopping_ || it == ahead_.end() || it->second.jobs.empty() || !limiter_.CanStart(queue)) {
    return nullptr;
  }
  std::shared_ptr<Execution> e = std::move(it->second.jobs.front());
  it->second.jobs.pop_front();
  limiter_.Acquire(queue, 1);
  return e;
}

std::shared_ptr<Execution> Runtime::StartAhead(const std::shared_ptr<Execution>& waiting) {
  std::shared_ptr<Execution> e = Unhold(waiting);
  if (e == nullptr) {
    MutexLock lock(&mu_);
    limiter_.Release(waiting->job.queue);
  }
  return e;
}

bool Runtime::Run(const std::shared_ptr<Execution>& exec, ExecutorSlot& slot) {
  const Job& job = exec->job;
  if (exec->finalized.load()) return true;  // released at shutdown before it started
  Emit(JobEvent{.kind = JobEvent::Kind::kStarted, .job = job});

  absl::Status status;
  ContextImpl ctx(exec.get());
  auto found = handlers_.find(job.name);
  if (found == handlers_.end()) {
    status = absl::NotFoundError(absl::StrFormat(
        "no handler defined for job name \"%s\" in worker %s", job.name, p_.worker_id));
  } else {
    // Its own reference: an abandoned handler may outlive the Runtime.
    std::shared_ptr<const ContextHandler> handler = found->second;
    slot.mu.Unlock();
    try {
      status = (*handler)(ctx);
    } catch (const std::exception& e) {
      status = absl::UnknownError(absl::StrFormat("handler threw: %s", e.what()));
    } catch (...) {
      status = absl::UnknownError("handler threw a non-standard exception");
    }
    slot.mu.Lock();
    if (slot.abandoned) return false;
  }
  const absl::Time now = p_.clock->Now();
  absl::Duration elapsed = now - exec->started_at;
  if (std::optional<absl::Time> since = exec->stopping_since()) {
    MutexLock lock(&mu_);
    ++overruns_;
    overrun_seconds_ += absl::ToDoubleSeconds(std::max(now - *since, absl::ZeroDuration()));
  }
  if (!exec->Finalize()) return true;  // lease lost or released already
  if (exec->stop() == StopReason::kTimeout) {
    // The attempt failed by its timeout, whatever the handler returned once
    // it stopped.
    status = absl::DeadlineExceededError(absl::StrFormat(
        "timed out after %s; the handler stopped %s later (%s)",
        absl::FormatDuration(exec->deadline - exec->started_at),
        absl::FormatDuration(std::max(now - exec->deadline, absl::ZeroDuration())),
        status.ok() ? std::string("it returned success")
                    : std::string(status.message().empty() ? absl::StatusCodeToString(status.code())
                                                           : std::string(status.message()))));
  }
  completer_->Add(Decide(exec, status, std::move(ctx.result()), elapsed));
  return true;
}

Outcome Runtime::Decide(const std::shared_ptr<Execution>& exec, const absl::Status& status,
                        std::optional<std::string> result, absl::Duration elapsed,
                        const std::string& released_why) {
  const Job& job = exec->job;
  Outcome o{.exec = exec, .elapsed = elapsed};
  StopReason stop = exec->stop();
  if (status.ok()) {
    o.to = JobState::kCompleted;
    o.result = std::move(result);
    return o;
  }
  o.error = std::string(status.message());
  if (o.error.empty()) o.error = absl::StatusCodeToString(status.code());
  if (stop == StopReason::kShutdown) {
    // Released: not the job's fault, so it is retried at once and never dies
    // of it (a later failure still counts the attempts used).
    o.to = JobState::kRetryable;
    o.run_at = p_.clock->Now();
    o.released = true;
    o.error = absl::StrFormat("%s: released by %s", StopReasonText(stop), p_.worker_id);
    if (!released_why.empty()) absl::StrAppend(&o.error, ": ", released_why);
    return o;
  }
  // A timeout has already replaced the handler's status (Run), so what it
  // asked for counts only when it returned in time.
  const FailureDecision d =
      DecideFailure(p_.options.retry, job, stop == StopReason::kCancelRequested,
                    ParseHandlerOutcome(status), p_.clock->Now());
  o.to = d.to;
  if (d.to == JobState::kRetryable || d.to == JobState::kScheduled) o.run_at = d.run_at;
  return o;
}

void Runtime::Emit(const JobEvent& event) {
  for (const EventListener& l : p_.listeners) {
    try {
      l(event);
    } catch (...) {
      Logf(LogLevel::kWarn, "an event listener threw; ignored");
    }
  }
}

void Runtime::Stop() {
  MutexLock serialize(&stop_mu_);
  {
    MutexLock lock(&mu_);
    if (!started_ || stopped_) return;
    stopping_ = true;
  }
  if (fetcher_.joinable()) fetcher_.join();
  if (subscription_ >= 0) p_.store->Unsubscribe(subscription_);
  if (wake_subscription_ >= 0) p_.coordinator->WakeUnsubscribe(wake_subscription_);
  if (monitor_) monitor_->Stop();
  // Jobs held for a rate limit never started: release them at once so
  // another worker can take them.
  for (const auto& e : gate_->TakeAllHeld()) {
    e->RequestStop(StopReason::kShutdown);
    if (e->Finalize()) {
      completer_->Add(
          Decide(e, absl::CancelledError("shutdown"), std::nullopt, absl::ZeroDuration()));
    }
  }

  // Jobs claimed ahead never started either (executors take no more of them
  // once stopping_ is set).
  std::vector<std::shared_ptr<Execution>> waiting;
  {
    MutexLock lock(&mu_);
    for (auto& [queue, ahead] : ahead_) {
      for (auto& e : ahead.jobs) waiting.push_back(std::move(e));
      ahead.jobs.clear();
    }
  }
  for (const auto& e : waiting) {
    e->RequestStop(StopReason::kShutdown);
    if (e->Finalize()) {
      completer_->Add(
          Decide(e, absl::CancelledError("shutdown"), std::nullopt, absl::ZeroDuration()));
    }
  }

  // Drain: wait for running handlers, then ask those still running to stop
  // and give them the last stop_grace (at most half) of the deadline to
  // return, so that what is released below has stopped (an `--exec` command
  // is killed by then) unless its handler ignores every request.
  // The release leaves a tenth of the deadline (at most 500 ms) to store the
  // outcomes, resign and deregister, so the whole Stop() fits in it.
  const absl::Duration reserve =
      std::min(absl::Milliseconds(500), p_.options.shutdown_deadline / 10);
  const absl::Time release_at = absl::Now() + p_.options.shutdown_deadline - reserve;
  const absl::Duration window = std::min(p_.options.stop_grace, p_.options.shutdown_deadline / 2);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ready_.empty() && limiter_.busy() == 0;
  };
  bool drained = false;
  int busy = 0;
  {
    MutexLock lock(&mu_);
    drained = mu_.AwaitWithTimeout(absl::Condition(&idle), release_at - window - absl::Now());
    busy = limiter_.busy();
  }
  if (!drained) {
    Logf(LogLevel::kWarn, "drain deadline near: asking %d running handlers to stop", busy);
    for (const auto& e : in_flight_.Snapshot()) {
      e->RequestStop(StopReason::kShutdown, p_.clock->Now());
      e->ReturnBy(release_at);
    }
    MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), release_at - absl::Now())) {
      Logf(LogLevel::kWarn,
           "drain deadline passed: releasing jobs still running for another attempt");
    }
  }
  // Release what still runs: handlers that ignored the stop request.
  for (const auto& e : in_flight_.Snapshot()) {
    e->RequestStop(StopReason::kShutdown, p_.clock->Now());
    if (!e->Finalize()) continue;
    // Not started (claimed ahead, queued): plainly released. Started: its
    // handler ignored the stop request; say so.
    absl::Status status = absl::CancelledError("shutdown");
    std::string why;
    const absl::Time now = p_.clock->Now();
    if (std::optional<absl::Time> since = e->stopping_since(); since && e->started()) {
      why = absl::StrFormat("the handler was still running %s after it was asked to stop (%s)",
                            absl::FormatDuration(now - *since), StopReasonText(e->stop()));
      // A timeout or cancel decides the attempt as usual; the reason says
      // it was released, not stopped.
      status = absl::CancelledError(
          absl::StrFormat("released at shutdown by %s: %s", p_.worker_id, why));
      Logf(LogLevel::kError, "%s: released at shutdown: %s", JobTag(e->job), why);
      MutexLock lock(&mu_);
      ++overruns_;
      overrun_seconds_ += absl::ToDoubleSeconds(std::max(now - *since, absl::ZeroDuration()));
    }
    completer_->Add(Decide(e, status, std::nullopt, now - e->started_at, why));
  }
  {
    MutexLock lock(&mu_);
    exit_ = true;
  }
  // An executor still inside a handler now ignores every request: leave its
  // thread behind (it touches nothing of this Runtime when the handler
  // returns) so that Stop() ends by the deadline.
  for (const std::shared_ptr<ExecutorSlot>& slot : executors_) {
    slot->mu.Lock();
    const bool done = slot->done;
    if (!done) slot->abandoned = true;
    slot->mu.Unlock();
    if (done) {
      slot->thread.join();
    } else {
      Logf(LogLevel::kError,
           "an executor thread is still inside a handler that ignores the stop request; "
           "leaving it behind");
      slot->thread.detach();
    }
  }
  heartbeater_->Stop();
  completer_->Stop(absl::Seconds(10));
  maintenance_->Stop();
  MutexLock lock(&mu_);
  stopped_ = true;
}

void Runtime::Wait() {
  MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_; };
  mu_.Await(absl::Condition(&done));
}

}  // namespace popqueue::core
