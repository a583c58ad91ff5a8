#include "core/scheduler.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "common/thread.h"

namespace popqueue::core {

Scheduler::Scheduler(std::shared_ptr<store::Store> store, Clock* clock,
                     std::vector<CronEntry> entries, MakeJob make_job)
    : store_(std::move(store)), clock_(clock), make_job_(std::move(make_job)) {
  for (CronEntry& e : entries) states_.push_back(State{.entry = std::move(e)});
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  // The first pass anchors every schedule at the start time before Start()
  // returns: a fire due right after it is never mistaken for one missed
  // before it (a late first pass in the thread would skip it).
  Tick(clock_->Now());
  thread_ = StartThread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int Scheduler::Tick(absl::Time now) {
  MutexLock serialize(&tick_mu_);
  int inserted = 0;
  auto fire = [&](State& s, absl::Time at) {
    auto job = make_job_(s.entry, at);
    if (!job.ok()) {
      Logf(LogLevel::kError, "schedule %s: cannot build job: %s", s.entry.id,
           std::string(job.status().message()));
      return;
    }
    auto r = store_->CronFireOnce(store::CronFireOnceParams{
        .schedule = s.entry.id, .fire_time = at, .job = std::move(*job), .now = now});
    if (!r.ok()) {
      Logf(LogLevel::kWarn, "schedule %s: firing %s failed: %s", s.entry.id, absl::FormatTime(at),
           std::string(r.status().message()));
      return;
    }
    inserted += *r ? 1 : 0;
  };
  for (State& s : states_) {
    if (s.next == absl::InfinitePast()) {
      // First pass: decide what to do about fires missed while no process ran.
      if (s.entry.options.missed == MissedFires::kRunOnce) {
        absl::Time last = absl::InfinitePast();
        absl::Time t = now - s.entry.options.catch_up_window;
        while (true) {
          auto n = s.entry.schedule.Next(t);
          if (!n.ok() || *n > now) break;
          last = t = *n;
        }
        if (last != absl::InfinitePast()) fire(s, last);
      }
      auto n = s.entry.schedule.Next(now);
      s.next = n.ok() ? *n : absl::InfiniteFuture();
      continue;
    }
    if (now < s.next) continue;
    // Fire the due time (the latest one, if several passed while this
    // process was busy or paused: never a burst).
    absl::Time due = s.next;
    while (true) {
      auto n = s.entry.schedule.Next(due);
      if (!n.ok() || *n > now) {
        s.next = n.ok() ? *n : absl::InfiniteFuture();
        break;
      }
      due = *n;
    }
    fire(s, due);
  }
  return inserted;
}

void Scheduler::Loop() {
  while (true) {
    Tick(clock_->Now());
    absl::Time earliest = absl::InfiniteFuture();
    for (const State& s : states_) earliest = std::min(earliest, s.next);
    // Sleep until the next fire, checking the (possibly injected) clock at
    // least every 250 ms.
    absl::Duration wait =
        std::clamp(earliest - clock_->Now(), absl::Milliseconds(1), absl::Milliseconds(250));
    MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), wait)) return;
  }
}

}  // namespace popqueue::core
