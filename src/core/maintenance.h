// Leader-only maintenance: the rescuer and the cleaner.
//
// Every `rescue_interval` each process tries to take (or keep) the
// "maintenance" leadership through the store (LeaderAttemptElect with a TTL).
// Only the leader runs the services, so a cluster does the work once:
// - rescuer: running jobs whose lease expired (their worker died or was
//   partitioned) go back to retryable, or dead when no attempts remain;
// - cleaner: finished jobs past their state's retention are deleted.
// Leadership lapses by itself when the leader dies (TTL); Stop() resigns.
#ifndef POPQUEUE_CORE_MAINTENANCE_H_
#define POPQUEUE_CORE_MAINTENANCE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "popqueue/clock.h"
#include "popqueue/options.h"
#include "store/store.h"

namespace popqueue::core {

inline constexpr char kMaintenanceLeadership[] = "maintenance";

class Maintenance {
 public:
  Maintenance(std::shared_ptr<store::Store> store, Clock* clock,
              const WorkerOptions& options, std::string worker_id);
  ~Maintenance();

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool is_leader() const ABSL_LOCKS_EXCLUDED(mu_);

  // One round of each service; public for tests and RedistributeJobs().
  static absl::StatusOr<int> Rescue(store::Store& store, absl::Time now);
  static absl::StatusOr<int> Clean(store::Store& store, const WorkerOptions& options,
                                   absl::Time now);

 private:
  void Loop();

  const std::shared_ptr<store::Store> store_;
  Clock* const clock_;
  const WorkerOptions options_;
  const std::string worker_id_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_MAINTENANCE_H_
