// Queue::Impl: the client side of the library (enqueue, read, admin) and the
// owner of the worker runtime.
#ifndef POPQUEUE_CORE_QUEUE_IMPL_H_
#define POPQUEUE_CORE_QUEUE_IMPL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "core/runtime.h"
#include "core/scheduler.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue {

class Queue::Impl {
 public:
  explicit Impl(QueueConfig config);
  // For tests and embedders that already hold a store.
  Impl(QueueConfig config, std::shared_ptr<store::Store> store);
  ~Impl();

  const absl::Status& status() const { return status_; }
  const QueueConfig& config() const { return config_; }
  const std::string& worker_id() const { return worker_id_; }
  store::Store* store() { return store_.get(); }

  absl::Status Define(std::string name, ContextHandler handler);
  absl::Status OnEvent(EventListener listener);
  absl::Status Every(std::string_view name, std::string_view expression,
                     std::string data, EveryOptions options);
  absl::StatusOr<std::vector<EnqueueResult>> EnqueueMany(
      std::vector<EnqueueRequest> requests);

  absl::Status StartInBackground();
  absl::Status Start();  // blocking
  void Stop();
  bool running();

  absl::Status RegisterWorker();
  absl::Status DeregisterWorker();
  absl::StatusOr<int> RedistributeJobs();
  absl::StatusOr<Job> Cancel(JobId id);

  absl::Time Now() const { return clock_->Now(); }

 private:
  absl::StatusOr<store::NewJob> Validate(const EnqueueRequest& r, absl::Time now);

  QueueConfig config_;
  Clock* clock_;
  absl::Status status_;
  std::shared_ptr<store::Store> store_;
  std::string worker_id_;
  IdGenerator ids_;

  absl::Mutex mu_;
  std::map<std::string, ContextHandler> handlers_ ABSL_GUARDED_BY(mu_);
  std::vector<EventListener> listeners_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<core::Runtime> runtime_ ABSL_GUARDED_BY(mu_);
  std::vector<core::CronEntry> schedules_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<core::Scheduler> scheduler_ ABSL_GUARDED_BY(mu_);
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace popqueue

#endif  // POPQUEUE_CORE_QUEUE_IMPL_H_
