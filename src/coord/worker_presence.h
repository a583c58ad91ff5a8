// Keeps one worker alive in a coordinator's registry: a background thread
// heartbeats it (with its count of running jobs) every interval, with a ttl
// of three intervals plus 5 s, so one or two lost beats never drop it.
//
// When the coordinator answers kNotFound (the entry expired during an
// outage, memcached evicted it, the server restarted empty) the worker is
// registered again: it is alive, so it belongs in the list. Registering in
// the first place, and deregistering, are the owner's calls; the owner stops
// the presence before deregistering, so a late beat never revives it.
//
// Thread-safety: Start and Stop from the owning thread; `running` is called
// from the presence thread.
#ifndef POPQUEUE_COORD_WORKER_PRESENCE_H_
#define POPQUEUE_COORD_WORKER_PRESENCE_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "coord/coordinator.h"

namespace popqueue::coord {

class WorkerPresence {
 public:
  WorkerPresence(std::shared_ptr<Coordinator> coordinator, WorkerInfo worker,
                 absl::Duration interval, std::function<int()> running);
  ~WorkerPresence();  // Stop()s

  // The ttl to register `worker` with, matching the heartbeats.
  absl::Duration ttl() const { return ttl_; }

  void Start();
  // Idempotent; returns once the thread has exited.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();

  const std::shared_ptr<Coordinator> coordinator_;
  const WorkerInfo worker_;
  const absl::Duration interval_;
  const absl::Duration ttl_;
  const std::function<int()> running_;

  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_WORKER_PRESENCE_H_
