// Queue::Impl: the client side of the library (enqueue, read, admin) and the
// owner of the worker runtime.
//
// It opens the store (db URL) and the coordinator (cache URL; the local one
// when empty). With a shared coordinator (Redis, memcached) the worker
// registry lives there (RegisterWorker, DeregisterWorker, ListWorkers and a
// WorkerPresence heartbeating it) and maintenance leadership is a
// coordinator lock; with the local one both stay with the store. The
// coordinator also reaches the runtime for rate limits.
#ifndef POPQUEUE_CORE_QUEUE_IMPL_H_
#define POPQUEUE_CORE_QUEUE_IMPL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "coord/coordinator.h"
#include "coord/worker_presence.h"
#include "core/maintenance.h"
#include "core/remote_workers.h"
#include "core/runtime.h"
#include "core/scheduler.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue {

class Queue::Impl {
 public:
  explicit Impl(QueueConfig config);
  ~Impl();

  const absl::Status& status() const { return status_; }
  const QueueConfig& config() const { return config_; }
  const std::string& worker_id() const { return worker_id_; }
  store::Store* store() { return store_.get(); }
  // Never null once status() is ok.
  const std::shared_ptr<coord::Coordinator>& coordinator() const { return coordinator_; }

  absl::Status Define(std::string name, ContextHandler handler);
  absl::Status OnEvent(EventListener listener);
  absl::Status Every(std::string_view name, std::string_view expression, std::string data,
                     EveryOptions options);
  absl::StatusOr<std::vector<EnqueueResult>> EnqueueMany(std::vector<EnqueueRequest> requests);
  // Workflows and batches (core/workflow.cc).
  absl::StatusOr<WorkflowEnqueued> EnqueueWorkflow(std::vector<WorkflowStep> steps);
  absl::StatusOr<BatchEnqueued> EnqueueBatch(BatchRequest batch);
  absl::StatusOr<Job> Requeue(JobId id);
  // Tells idle workers of other processes that `queue` has available jobs,
  // through the coordinator, when the store's notifications cannot.
  void PublishAvailable(const std::string& queue);

  absl::Status StartInBackground();
  absl::Status Start();  // blocking
  // Leader election and the leader-only services (rescuer, cleaner) plus the
  // cron schedules, without workers: for `popqueue serve`, whose jobs run in
  // remote workers. Workers started later take the services over.
  absl::Status StartMaintenance();
  // Whether this process holds the maintenance leadership now (its workers'
  // or StartMaintenance()'s).
  bool is_leader();
  std::vector<ScheduleInfo> Schedules() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop();
  bool running();
  std::shared_ptr<core::Runtime> runtime() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return runtime_;
  }

  absl::Status RegisterWorker();
  absl::Status DeregisterWorker();
  // Live workers, from the coordinator's registry or the store's.
  absl::StatusOr<std::vector<WorkerInfo>> ListWorkers();
  absl::StatusOr<int> RedistributeJobs();
  absl::StatusOr<Job> Cancel(JobId id);

  absl::Time Now() const { return clock_->Now(); }

  // Calls the OnEvent listeners, for outcomes reported by remote workers.
  void Emit(const JobEvent& event) ABSL_LOCKS_EXCLUDED(mu_);
  // True when some listener would receive Emit().
  bool has_listeners() ABSL_LOCKS_EXCLUDED(mu_);
  // The server-side state of remote workers, shared by every RemoteWorkerApi
  // of this queue; created on first use.
  std::shared_ptr<core::RemoteWorkers> remote_workers() ABSL_LOCKS_EXCLUDED(mu_);
  // The registry for a worker of another process (remote workers): written
  // where this process's own entry would be.
  absl::Status RegistryUpsert(const WorkerInfo& worker);
  absl::Status RegistryRemove(const std::string& worker_id);

 private:
  absl::StatusOr<store::NewJob> Validate(const EnqueueRequest& r, absl::Time now);
  void OpenCoordinator();
  // True when the registry and leadership go through the coordinator.
  bool shared_coordinator() const { return coordinator_ && coordinator_->SharedAcrossProcesses(); }
  WorkerInfo Self() const;
  // Starts the cron scheduler for schedules_, unless running already.
  void StartSchedulerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How often this worker heartbeats the registry.
  absl::Duration registry_interval() const;

  QueueConfig config_;
  Clock* clock_;
  absl::Status status_;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<coord::Coordinator> coordinator_;
  std::string worker_id_;
  IdGenerator ids_;

  Mutex mu_;
  std::map<std::string, ContextHandler> handlers_ ABSL_GUARDED_BY(mu_);
  std::vector<EventListener> listeners_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<core::Runtime> runtime_ ABSL_GUARDED_BY(mu_);
  std::vector<core::CronEntry> schedules_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<core::Scheduler> scheduler_ ABSL_GUARDED_BY(mu_);
  // StartMaintenance()'s, while no workers run.
  std::unique_ptr<core::Maintenance> maintenance_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<core::RemoteWorkers> remote_workers_ ABSL_GUARDED_BY(mu_);
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  // Heartbeats the coordinator's registry while workers run.
  std::unique_ptr<coord::WorkerPresence> presence_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue

#endif  // POPQUEUE_CORE_QUEUE_IMPL_H_
