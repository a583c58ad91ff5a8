// Names of job states; the stored spellings never change.
#include <string_view>

#include "absl/strings/str_cat.h"
#include "popqueue/clock.h"
#include "popqueue/job.h"

namespace popqueue {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kScheduled: return "scheduled";
    case JobState::kAvailable: return "available";
    case JobState::kRunning: return "running";
    case JobState::kRetryable: return "retryable";
    case JobState::kCompleted: return "completed";
    case JobState::kDead: return "dead";
    case JobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

absl::StatusOr<JobState> ParseJobState(std::string_view name) {
  for (JobState s : kAllJobStates) {
    if (JobStateName(s) == name) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown job state \"", std::string(name),
                   "\"; expected one of scheduled, available, running, retryable, "
                   "completed, dead, cancelled"));
}

bool IsFinal(JobState state) {
  return state == JobState::kCompleted || state == JobState::kDead || state == JobState::kCancelled;
}

namespace {
class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace popqueue
