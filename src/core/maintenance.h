// Leader-only maintenance: the rescuer and the cleaner.
//
// Every `rescue_interval` each process tries to take (or keep) the
// "maintenance" leadership for `leader_ttl`: through the coordinator's lock
// "leader:maintenance" (taken once, then extended by its holder) when a
// shared coordinator (Redis, memcached) is configured, otherwise through the
// store (LeaderAttemptElect). Only the leader runs the services, so a
// cluster does the work once:
// - rescuer: running jobs whose lease expired (their worker died or was
//   partitioned) go back to retryable, or dead when no attempts remain. For
//   each job the rescue dead-lettered, the leader raises JobEvent kDead (the
//   `job.dead` notification): the store names the jobs each rescue moved and
//   no two rescues name one job, so the event is raised once per job across
//   processes, by the process whose write moved it;
// - cleaner: finished jobs past their state's retention are deleted.
// Worker processes run it inside their runtime; `popqueue serve`, which runs
// no workers, runs it through Queue::StartMaintenance(), so servers and
// workers contest one leadership. Leadership lapses by itself when the
// leader dies (TTL); Stop() resigns.
// A leader that cannot reach the coordinator (or store) stops acting as
// leader until it can confirm its leadership again.
#ifndef POPQUEUE_CORE_MAINTENANCE_H_
#define POPQUEUE_CORE_MAINTENANCE_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "coord/coordinator.h"
#include "popqueue/clock.h"
#include "popqueue/options.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue::core {

inline constexpr char kMaintenanceLeadership[] = "maintenance";
inline constexpr char kMaintenanceLock[] = "leader:maintenance";

class Maintenance {
 public:
  // `coordinator`: null or local -> the store elects the leader. `emit`
  // (may be empty) receives the kDead events of rescued jobs.
  Maintenance(std::shared_ptr<store::Store> store, Clock* clock, const WorkerOptions& options,
              std::string worker_id, std::shared_ptr<coord::Coordinator> coordinator = nullptr,
              EventListener emit = nullptr);
  ~Maintenance();

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool is_leader() const ABSL_LOCKS_EXCLUDED(mu_);

  // One round of each service; public for tests and RedistributeJobs().
  // Rescue returns every job it moved, with its new state; when `emit` is
  // set it is called with kDead for each job it dead-lettered (RaiseDead).
  static absl::StatusOr<store::JobRescueExpiredResult> Rescue(store::Store& store, absl::Time now,
                                                              const EventListener& emit = nullptr);
  // Calls `emit` with kDead for each job of `rescued` that went to dead,
  // read back for the event (the rescue's error, attempt, payload). A job
  // that cannot be read (deleted since) gets an event with its id only.
  static void RaiseDead(store::Store& store, const store::JobRescueExpiredResult& rescued,
                        const EventListener& emit);
  static absl::StatusOr<int> Clean(store::Store& store, const WorkerOptions& options,
                                   absl::Time now);

 private:
  void Loop();
  // One election round: true when this process leads now.
  bool Elect(absl::Time now);
  bool ElectWithLock();
  void Resign();

  const std::shared_ptr<store::Store> store_;
  Clock* const clock_;
  const WorkerOptions options_;
  const std::string worker_id_;
  // Set when leadership goes through coordinator locks.
  const std::shared_ptr<coord::Coordinator> coordinator_;
  const EventListener emit_;
  // The held leader lock (only touched by the loop thread, then by Stop()
  // after joining it).
  std::optional<coord::Lock> lock_;
  // Loop thread only: a call of this pass failed (store or coordinator
  // unreachable); see Loop().
  bool call_failed_ = false;

  mutable Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_MAINTENANCE_H_
