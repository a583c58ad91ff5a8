#include "core/maintenance.h"

#include <utility>

#include "absl/time/time.h"
#include "common/log.h"
#include "common/thread.h"

namespace popqueue::core {

Maintenance::Maintenance(std::shared_ptr<store::Store> store, Clock* clock,
                         const WorkerOptions& options, std::string worker_id,
                         std::shared_ptr<coord::Coordinator> coordinator, EventListener emit)
    : store_(std::move(store)),
      clock_(clock),
      options_(options),
      worker_id_(std::move(worker_id)),
      coordinator_(coordinator && coordinator->SharedAcrossProcesses() ? std::move(coordinator)
                                                                       : nullptr),
      emit_(std::move(emit)) {}

Maintenance::~Maintenance() { Stop(); }

void Maintenance::Start() {
  thread_ = StartThread([this] { Loop(); });
}

bool Maintenance::is_leader() const {
  MutexLock lock(&mu_);
  return leader_;
}

void Maintenance::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  bool was_leader;
  {
    MutexLock lock(&mu_);
    was_leader = leader_;
    leader_ = false;
  }
  if (was_leader || lock_) Resign();
  if (was_leader) Logf(LogLevel::kInfo, "worker %s resigned maintenance leadership", worker_id_);
}

void Maintenance::Resign() {
  absl::Status s;
  if (coordinator_) {
    if (!lock_) return;
    s = coordinator_->LockRelease(*lock_);
    lock_.reset();
  } else {
    s = store_->LeaderResign(
        store::LeaderResignParams{.name = kMaintenanceLeadership, .leader_id = worker_id_});
  }
  if (!s.ok()) {
    Logf(LogLevel::kWarn, "resigning leadership failed: %s", std::string(s.message()));
  }
}

bool Maintenance::ElectWithLock() {
  if (lock_) {
    auto extended = coordinator_->LockExtend({.lock = *lock_, .ttl = options_.leader_ttl});
    if (!extended.ok()) {
      // Unconfirmed: stop acting as leader, keep the lock to extend later
      // (if it expired meanwhile the extend says so).
      Logf(LogLevel::kWarn, "extending leadership failed: %s",
           std::string(extended.status().message()));
      call_failed_ = true;
      return false;
    }
    if (*extended) return true;
    lock_.reset();  // lost it (expired, and maybe taken)
  }
  auto acquired = coordinator_->LockAcquire(
      {.name = kMaintenanceLock, .owner = worker_id_, .ttl = options_.leader_ttl});
  if (!acquired.ok()) {
    Logf(LogLevel::kWarn, "leader election failed: %s", std::string(acquired.status().message()));
    call_failed_ = true;
    return false;
  }
  lock_ = *acquired;
  return lock_.has_value();
}

bool Maintenance::Elect(absl::Time now) {
  if (coordinator_) return ElectWithLock();
  auto elected =
      store_->LeaderAttemptElect(store::LeaderAttemptElectParams{.name = kMaintenanceLeadership,
                                                                 .leader_id = worker_id_,
                                                                 .now = now,
                                                                 .ttl = options_.leader_ttl});
  if (!elected.ok()) {
    Logf(LogLevel::kWarn, "leader election failed: %s", std::string(elected.status().message()));
    call_failed_ = true;
    return false;
  }
  return *elected;
}

absl::StatusOr<store::JobRescueExpiredResult> Maintenance::Rescue(store::Store& store,
                                                                  absl::Time now,
                                                                  const EventListener& emit) {
  constexpr int kBatch = 1000;
  store::JobRescueExpiredResult total;
  while (true) {
    auto moved = store.JobRescueExpired(store::JobRescueExpiredParams{.now = now, .limit = kBatch});
    if (!moved.ok()) {
      // What earlier batches moved is moved: their events are still owed.
      if (emit) RaiseDead(store, total, emit);
      return moved.status();
    }
    total.insert(total.end(), moved->begin(), moved->end());
    if (moved->size() < kBatch) break;
  }
  if (emit) RaiseDead(store, total, emit);
  return total;
}

void Maintenance::RaiseDead(store::Store& store, const store::JobRescueExpiredResult& rescued,
                            const EventListener& emit) {
  for (const store::RescuedJob& r : rescued) {
    if (r.to != JobState::kDead) continue;
    JobEvent event{.kind = JobEvent::Kind::kDead};
    // Only this process's rescue moved the job, so this is its one event;
    // the read only fills it in (a requeue since changes nothing of it but
    // state). A job deleted since is still told, by id.
    if (auto job = store.JobGet(store::JobGetParams{.id = r.id}); job.ok()) {
      event.job = *std::move(job);
      if (!event.job.errors.empty()) event.error = event.job.errors.back().message;
      if (event.job.picked_at && event.job.finished_at) {
        event.elapsed = *event.job.finished_at - *event.job.picked_at;
      }
    } else {
      Logf(LogLevel::kWarn, "rescuer: job %d is dead but could not be read for its event: %s", r.id,
           job.status().ToString());
      event.job.id = r.id;
      event.error = "lease expired";
    }
    event.job.state = JobState::kDead;
    try {
      emit(event);
    } catch (...) {
      Logf(LogLevel::kWarn, "an event listener threw; ignored");
    }
  }
}

absl::StatusOr<int> Maintenance::Clean(store::Store& store, const WorkerOptions& options,
                                       absl::Time now) {
  const std::pair<JobState, absl::Duration> retention[] = {
      {JobState::kCompleted, options.retain_completed},
      {JobState::kCancelled, options.retain_cancelled},
      {JobState::kDead, options.retain_dead},
  };
  int total = 0;
  for (const auto& [state, keep] : retention) {
    if (keep <= absl::ZeroDuration()) continue;
    auto n = store.JobDeleteFinishedBefore(
        store::JobDeleteFinishedBeforeParams{.state = state, .before = now - keep, .limit = 10000});
    if (!n.ok()) return n.status();
    total += *n;
  }
  return total;
}

void Maintenance::Loop() {
  // After an outage of the store (or the coordinator), the leases that ran
  // out meanwhile belong mostly to live workers that could not renew them;
  // rescuing them at once would run those jobs twice. So the first pass that
  // works again only sets when rescuing resumes: one lease later, time for
  // every owner to heartbeat. A killed worker's jobs come back that much
  // later, and only after an outage.
  //
  // An outage is a call that failed, and also one that succeeded but took
  // longer than heartbeat_interval: a server stopped (SIGSTOP, a swap
  // storm) or a link cut shorter than the client's timeout answers late
  // instead of failing, and the workers' heartbeats through it were stalled
  // as long. Without this, the pass whose election returns after the stall
  // rescues at once the leases of live workers that lapsed during it (216
  // duplicate runs in tests/hosts/outage_test.sh before). The stall is
  // measured on this thread's calls only: it may have begun before the call
  // did, so a call slower than one heartbeat interval (not one lease) counts.
  // A store slower than that on every call defers rescue while it lasts;
  // each such pass is logged.
  bool outage = false;
  absl::Time rescue_from = absl::InfinitePast();
  // Times a pass's calls: a slow one is an outage (above).
  auto stalled = [this](absl::Time since, const char* what) {
    absl::Duration took = clock_->Now() - since;
    if (took <= options_.heartbeat_interval) return false;
    Logf(LogLevel::kWarn, "rescuer: %s took %s (heartbeat interval %s): treated as an outage", what,
         absl::FormatDuration(took), absl::FormatDuration(options_.heartbeat_interval));
    return true;
  };
  while (true) {
    absl::Time now = clock_->Now();
    call_failed_ = false;
    bool leader = Elect(now);
    if (stalled(now, "leader election")) {
      outage = true;
      now = clock_->Now();  // the stall ended here: rescue waits from now on
    }
    {
      MutexLock lock(&mu_);
      if (leader != leader_) {
        Logf(LogLevel::kInfo, "worker %s %s maintenance leadership", worker_id_,
             leader ? "took" : "lost");
      }
      leader_ = leader;
    }
    if (leader) {
      if (outage && !call_failed_) {
        outage = false;
        rescue_from = now + options_.lease;
        Logf(LogLevel::kInfo,
             "rescuer: reachable again; expired leases are rescued from %s on, "
             "once their owners could renew them",
             absl::FormatTime(rescue_from));
      }
      if (now >= rescue_from) {
        const absl::Time started = clock_->Now();
        if (auto n = Rescue(*store_, now, emit_); !n.ok()) {
          call_failed_ = true;
          Logf(LogLevel::kWarn, "rescuer: %s", std::string(n.status().message()));
        } else if (!n->empty()) {
          Logf(LogLevel::kInfo, "rescuer: %d jobs with expired leases returned",
               static_cast<int>(n->size()));
        }
        if (stalled(started, "rescuing")) outage = true;
      }
      const absl::Time started = clock_->Now();
      if (auto n = Clean(*store_, options_, now); !n.ok()) {
        call_failed_ = true;
        Logf(LogLevel::kWarn, "cleaner: %s", std::string(n.status().message()));
      }
      if (stalled(started, "cleaning")) outage = true;
    }
    if (call_failed_) outage = true;
    MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.rescue_interval)) {
      return;
    }
  }
}

}  // namespace popqueue::core
