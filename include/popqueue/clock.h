// The source of "now" for the library. Inject a test clock to control time.
#ifndef POPQUEUE_CLOCK_H_
#define POPQUEUE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace popqueue {

// Thread-safe. Implementations must be usable from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // The process-wide real clock; never deleted.
  static Clock* Real();
};

}  // namespace popqueue

#endif  // POPQUEUE_CLOCK_H_
