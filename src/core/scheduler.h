// The cron scheduler: enqueues each fire of each recurring schedule exactly
// once across every process that defines it.
//
// Every process that called Queue::Every() runs this loop for its schedules.
// At a fire time each one calls the store's CronFireOnce(schedule, fire time,
// job); the store inserts the job only for the first caller, so any number of
// processes may race for the same schedule. After downtime, missed fires are
// skipped (kSkip) or the most recent missed fire within the catch-up window
// is enqueued once (kRunOnce).
#ifndef POPQUEUE_CORE_SCHEDULER_H_
#define POPQUEUE_CORE_SCHEDULER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "core/cron.h"
#include "popqueue/clock.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue::core {

struct CronEntry {
  std::string id;  // unique schedule identity
  CronSchedule schedule;
  EveryOptions options;
  std::string name;  // job name
  std::string data;
};

class Scheduler {
 public:
  // `make_job(entry, fire)` builds the job to insert (validated, with an id).
  using MakeJob = std::function<absl::StatusOr<store::NewJob>(const CronEntry&, absl::Time)>;
  Scheduler(std::shared_ptr<store::Store> store, Clock* clock, std::vector<CronEntry> entries,
            MakeJob make_job);
  ~Scheduler();

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // One pass: fires every entry whose next fire time is due at `now`.
  // Public for tests with an injected clock. Returns how many jobs this
  // process inserted.
  int Tick(absl::Time now);

 private:
  void Loop();

  struct State {
    CronEntry entry;
    absl::Time next = absl::InfinitePast();  // InfinitePast: not yet started
  };

  const std::shared_ptr<store::Store> store_;
  Clock* const clock_;
  const MakeJob make_job_;
  std::vector<State> states_;  // only touched by Tick (one thread at a time)
  Mutex tick_mu_;

  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_SCHEDULER_H_
