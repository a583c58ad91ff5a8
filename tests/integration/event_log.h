// EventLog: collects a Queue's job events so tests wait on them instead of
// sleeping.
#ifndef POPQUEUE_TESTS_INTEGRATION_EVENT_LOG_H_
#define POPQUEUE_TESTS_INTEGRATION_EVENT_LOG_H_

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "popqueue/queue.h"

namespace popqueue::testing {

class EventLog {
 public:
  EventListener Listener() {
    return [this](const JobEvent& e) {
      MutexLock lock(&mu_);
      events_.push_back(e);
    };
  }
  // Waits until `n` events of `kind` arrived.
  bool WaitFor(JobEvent::Kind kind, int n, absl::Duration timeout = absl::Seconds(30)) {
    MutexLock lock(&mu_);
    auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return CountLocked(kind) >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
  }
  int Count(JobEvent::Kind kind) {
    MutexLock lock(&mu_);
    return CountLocked(kind);
  }
  std::vector<JobEvent> Of(JobEvent::Kind kind) {
    MutexLock lock(&mu_);
    std::vector<JobEvent> out;
    for (const auto& e : events_) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

 private:
  int CountLocked(JobEvent::Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int n = 0;
    for (const auto& e : events_) n += e.kind == kind;
    return n;
  }
  Mutex mu_;
  std::vector<JobEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_INTEGRATION_EVENT_LOG_H_
