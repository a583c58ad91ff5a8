// Rate limits on job starts, per queue and per job name, taken from a
// coord::Coordinator (so they hold across processes when the coordinator is
// Redis or Memcached).
//
// Queue limits gate the claim: before claiming from a limited queue the
// fetcher takes tokens for as many jobs as it has free slots (at most 100 ms
// worth of the limit at once, so starts come in small even steps) and claims
// only that many, so over-limit jobs stay available in the store for any worker.
// Tokens not used because the queue had fewer jobs are kept as credit until
// the limiter would have granted them anyway (then they lapse); after a short
// claim the gate asks for one token at a time, so an idle queue polled every
// second does not drain the bucket and a job that arrives runs at once.
//
// Name limits cannot gate the claim (claims are by queue), so they gate the
// start: a claimed job whose name is over its limit is held here, its lease
// kept alive by the heartbeater and its timeout not yet running, until a
// token is granted. Holding rather than giving it back keeps the attempt
// count exact: the store has no way to un-claim a job without counting an
// attempt and recording an error. Held jobs take no execution slot, so other
// names of the same queue keep running; at most max_held_jobs are held, then
// queues with held jobs are not claimed from until some start. Jobs of one
// name start in claim order.
//
// Coordinator errors fail closed: the queue or name counts as limited and is
// retried a second later (limits usually protect something downstream).
//
// Thread-safety: used by the fetcher thread only (and by Stop() after the
// fetcher has joined), except held(), which any thread may call.
#ifndef POPQUEUE_CORE_RATE_GATE_H_
#define POPQUEUE_CORE_RATE_GATE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coord/coordinator.h"
#include "core/execution.h"
#include "popqueue/clock.h"
#include "popqueue/options.h"

namespace popqueue::core {

class RateGate {
 public:
  // `coordinator` may be null only when no rate limit is configured.
  // `clock` (not owned) must tell the coordinator's time: real time, except
  // in tests that give both the same fake clock.
  RateGate(std::shared_ptr<coord::Coordinator> coordinator, const WorkerOptions& options,
           Clock* clock = Clock::Real());

  // True when any rate limit is configured; when false every call below is
  // a no-op that allows everything.
  bool active() const { return active_; }

  // How many jobs of `queue` to claim now, at most `want` (0: the queue is
  // over its limit, or holds max_held_jobs). Takes tokens; see above.
  int QueueAllowance(const std::string& queue, int want);
  // The claim asked for `asked` and got `claimed` jobs.
  void QueueClaimed(const std::string& queue, int asked, int claimed);

  // Sorts freshly claimed jobs: returns those that may start now (in claim
  // order) and holds the others.
  std::vector<std::shared_ptr<Execution>> Admit(std::vector<std::shared_ptr<Execution>> claimed);
  // Held jobs that may start now, oldest first per name. `free_slots(queue)`
  // says how many more jobs of a queue could start; it is decremented
  // through as jobs are granted. Held jobs the heartbeater gave up on (lease
  // lost) are dropped; jobs cancelled while held go to `cancelled`.
  std::vector<std::shared_ptr<Execution>> ReleaseDue(
      std::map<std::string, int>& free_slots, std::vector<std::shared_ptr<Execution>>& cancelled);
  // Everything held (at shutdown).
  std::vector<std::shared_ptr<Execution>> TakeAllHeld();
  // The held jobs, still held (for a keeper of their leases).
  std::vector<std::shared_ptr<Execution>> Held() const;

  // When a refused queue or name may be granted again (InfiniteFuture when
  // nothing waits), in the clock's time.
  absl::Time NextWake() const;
  // Whether `queue` is over its rate limit now (the fetcher need not wake
  // for it when a slot frees).
  bool QueueBlocked(const std::string& queue) const;

  int held() const { return held_.load(); }

 private:
  struct QueueState {
    RateLimit limit;
    int credit = 0;
    absl::Time credit_until = absl::InfinitePast();
    absl::Time blocked_until = absl::InfinitePast();
    bool dry = false;  // the last claim got fewer jobs than asked
  };
  struct NameState {
    RateLimit limit;
    std::deque<std::shared_ptr<Execution>> held;
    absl::Time blocked_until = absl::InfinitePast();
  };

  // Takes `cost` tokens of `key`; false (and *retry_after set) when refused
  // or the coordinator failed.
  bool Take(const std::string& key, const RateLimit& limit, int64_t cost,
            absl::Duration* retry_after);

  const std::shared_ptr<coord::Coordinator> coordinator_;
  Clock* const clock_;
  const int max_held_;
  bool active_ = false;
  std::map<std::string, QueueState> queues_;
  std::map<std::string, NameState> names_;
  std::map<std::string, int> held_by_queue_;
  std::atomic<int> held_{0};
  bool warned_ = false;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_RATE_GATE_H_
