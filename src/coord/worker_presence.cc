#include "coord/worker_presence.h"

#include <utility>

#include "common/log.h"
#include "common/thread.h"

namespace popqueue::coord {

WorkerPresence::WorkerPresence(std::shared_ptr<Coordinator> coordinator, WorkerInfo worker,
                               absl::Duration interval, std::function<int()> running)
    : coordinator_(std::move(coordinator)),
      worker_(std::move(worker)),
      interval_(interval),
      ttl_(3 * interval + absl::Seconds(5)),
      running_(std::move(running)) {}

WorkerPresence::~WorkerPresence() { Stop(); }

void WorkerPresence::Start() {
  thread_ = StartThread([this] { Loop(); });
}

void WorkerPresence::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void WorkerPresence::Loop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), interval_)) return;
    }
    const int running = running_ ? running_() : 0;
    absl::Status s =
        coordinator_->WorkerHeartbeat({.worker_id = worker_.id, .running = running, .ttl = ttl_});
    if (absl::IsNotFound(s)) {
      WorkerInfo w = worker_;
      w.running = running;
      s = coordinator_->WorkerRegister({.worker = w, .ttl = ttl_});
      if (s.ok()) {
        Logf(LogLevel::kInfo, "worker %s was missing from the %s registry: registered again",
             worker_.id, std::string(coordinator_->Kind()));
      }
    }
    if (!s.ok()) {
      Logf(LogLevel::kDebug, "worker heartbeat (%s): %s", std::string(coordinator_->Kind()),
           std::string(s.message()));
    }
  }
}

}  // namespace popqueue::coord
