// RemoteWorkers: what a server keeps about the workers that reach it through
// the worker protocol (RemoteWorkerApi, gRPC FetchJobs/Heartbeat/...), so
// that they are registered, limited and woken like the library's own.
//
// - Jobs out: the jobs each remote worker fetched and has not finished yet
//   (dropped when completed, failed, reported lost by a heartbeat, or when
//   their lease ran out), with their record for the job events (without
//   its payload, errors and result: a worker may hold a thousand jobs of a
//   megabyte each; the completed event of a remote job carries no data).
// - Limits: a remote worker is limited as one worker process is: per queue
//   by WorkerOptions::concurrency[queue] (queues without an entry: no
//   per-queue limit, the fetch's own `limit` bounds it) and across queues
//   by max_concurrency (0 = none), counting the jobs it holds; and through a
//   RateGate of its own over the queue's coordinator (so with Redis or
//   Memcached the buckets are shared by every server and worker) by the
//   queue rate limits, which gate the claim, and the job-name rate limits,
//   which gate the start: a claimed job whose name is over its limit is
//   held here, its lease kept alive by the keeper thread, and handed to the
//   same worker's next fetch of its queue once its turn comes (as the local
//   runtime holds it; see rate_gate.h). Held jobs of a worker that stops
//   fetching are no longer kept alive once it drops out of the registry:
//   their leases expire and the rescuer takes them back. Paused queues are
//   the store's: JobClaim skips them.
// - Registry: Touch() says when a worker's entry is due to be written
//   (first sight, changed queues, or a registry interval since the last
//   write), so a busy fetcher costs one registry write per interval.
// - Wake-ups for long-polling fetches: the store's notifications (and the
//   coordinator's wake-ups where the store's do not cross processes) bump a
//   generation per queue; a waiting fetch sleeps until one of its queues
//   moves, its deadline, or StopWaiting().
//
// The jobs handed out are this server's view: a worker that talks to several
// servers is limited per server. Rate limits with a shared coordinator are
// cluster-wide.
//
// Thread-safety: every method may be called from any thread (gRPC calls the
// service from many).
#ifndef POPQUEUE_CORE_REMOTE_WORKERS_H_
#define POPQUEUE_CORE_REMOTE_WORKERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "coord/coordinator.h"
#include "core/rate_gate.h"
#include "popqueue/admin.h"
#include "popqueue/clock.h"
#include "popqueue/job.h"
#include "popqueue/options.h"
#include "store/store.h"

namespace popqueue::core {

class RemoteWorkers {
 public:
  RemoteWorkers(std::shared_ptr<store::Store> store,
                std::shared_ptr<coord::Coordinator> coordinator, Clock* clock,
                const WorkerOptions& options);
  ~RemoteWorkers();  // unsubscribes

  RemoteWorkers(const RemoteWorkers&) = delete;
  RemoteWorkers& operator=(const RemoteWorkers&) = delete;

  // True when some queue may limit a fetch (a concurrency or rate limit):
  // the fetch then claims queue by queue, through ClaimLimited().
  bool limited() const { return limited_; }
  using ClaimFn = std::function<absl::StatusOr<std::vector<Job>>(int limit)>;
  // Up to `want` jobs of `queue` for `worker` within its limits: first jobs
  // held for it whose name's turn came, then `claim(n)` for what the
  // concurrency and queue rate limits allow; claimed jobs over their name's
  // rate limit stay held here. The jobs returned are the worker's now.
  absl::StatusOr<std::vector<Job>> ClaimLimited(const std::string& worker, const std::string& queue,
                                                int want, const ClaimFn& claim)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Jobs claimed without limits are the worker's now.
  void Claimed(const std::string& worker, const std::vector<Job>& jobs) ABSL_LOCKS_EXCLUDED(mu_);
  // The job is finished or lost: no longer held. Returns its record as
  // fetched, when some worker held it here.
  std::optional<Job> Release(JobId id) ABSL_LOCKS_EXCLUDED(mu_);
  // The record of a job some worker holds here (as fetched), if any.
  std::optional<Job> Find(JobId id) ABSL_LOCKS_EXCLUDED(mu_);
  // A heartbeat of `worker`: `extended` jobs hold until now + lease.
  void Beat(const std::string& worker, const std::vector<JobId>& extended, absl::Duration lease)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Records that `worker` called from `address` for `queues` (empty: keep
  // the known ones); `info` overrides host/pid when a RegisterWorker gave
  // them. Returns the registry entry to write when one is due (or `force`).
  std::optional<WorkerInfo> Touch(const std::string& worker, const std::string& address,
                                  const std::vector<std::string>& queues, bool force,
                                  const WorkerInfo* info = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the worker (DeregisterWorker); its held jobs stay leased in the
  // store until they finish or expire.
  void Forget(const std::string& worker) ABSL_LOCKS_EXCLUDED(mu_);

  // Long-poll. Snapshot() before claiming; Wait() after a claim that found
  // nothing: returns true when one of `queues` was notified since the
  // snapshot, false at `until` or once StopWaiting() was called.
  struct Snapshot {
    uint64_t all = 0;
    std::vector<uint64_t> per_queue;
  };
  Snapshot Take(const std::vector<std::string>& queues) ABSL_LOCKS_EXCLUDED(wake_mu_);
  bool Wait(const std::vector<std::string>& queues, const Snapshot& seen, absl::Time until)
      ABSL_LOCKS_EXCLUDED(wake_mu_);
  // Every waiting fetch returns now, and later ones do not wait; jobs held
  // for a job-name limit are given back (shutdown).
  void StopWaiting() ABSL_LOCKS_EXCLUDED(wake_mu_);
  // Wakes every waiting fetch, as a notification of every queue would.
  void WakeAll() { OnNotify(""); }
  bool stopping() ABSL_LOCKS_EXCLUDED(wake_mu_);

 private:
  struct Held {
    Job job;
    absl::Time expires;
  };
  // A worker's rate gate and the jobs it holds for a job-name limit. The
  // gate is not thread-safe by itself; fetches of one worker and the keeper
  // take turns on `mu`.
  struct Gate {
    explicit Gate(std::shared_ptr<coord::Coordinator> c, const WorkerOptions& o)
        : gate(std::move(c), o) {}
    Mutex mu;
    RateGate gate ABSL_GUARDED_BY(mu);
    std::map<JobId, absl::Time> beat_due ABSL_GUARDED_BY(mu);  // keeper's schedule
  };
  struct Worker {
    WorkerInfo info;
    std::map<JobId, Held> held;                 // handed out, not finished
    absl::Time written = absl::InfinitePast();  // the last registry write
    absl::Time seen = absl::InfinitePast();
    std::shared_ptr<Gate> gate;  // created by its first limited fetch
  };
  // Drops held jobs whose lease ran out, and workers silent and idle for
  // longer than the registry keeps them.
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandOutLocked(const std::string& worker, const std::vector<Job>& jobs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNotify(const std::string& queue) ABSL_LOCKS_EXCLUDED(wake_mu_);
  // The keeper thread: heartbeats the jobs held for job-name limits every
  // third of their lease (only when such limits are configured).
  void KeepLoop();
  void KeepOnce() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops the keeper and gives every held job back (retryable now).
  void ReleaseHeld() ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<store::Store> store_;
  const std::shared_ptr<coord::Coordinator> coordinator_;
  Clock* const clock_;
  const WorkerOptions options_;
  const absl::Duration registry_interval_;
  bool limited_ = false;
  int subscription_ = -1;
  int wake_subscription_ = -1;

  Mutex mu_;
  std::map<std::string, Worker> workers_ ABSL_GUARDED_BY(mu_);
  std::map<JobId, std::string> holder_ ABSL_GUARDED_BY(mu_);  // job -> worker
  absl::Time pruned_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool keeper_stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread keeper_;

  Mutex wake_mu_;
  uint64_t all_ ABSL_GUARDED_BY(wake_mu_) = 0;
  std::map<std::string, uint64_t> generation_ ABSL_GUARDED_BY(wake_mu_);
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_REMOTE_WORKERS_H_
