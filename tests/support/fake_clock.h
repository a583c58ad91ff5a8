// A clock the test moves by hand, for code that takes a popqueue::Clock
// (the Queue's options, the runtime's gates, the maintenance services).
// Thread-safe: workers may read it while the test advances it.
#ifndef POPQUEUE_TESTS_SUPPORT_FAKE_CLOCK_H_
#define POPQUEUE_TESTS_SUPPORT_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "popqueue/clock.h"

namespace popqueue::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1800000000)) : now_(start) {}
  absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_FAKE_CLOCK_H_
