#include "store/validate.h"

#include "absl/strings/str_format.h"

namespace popqueue::store {

absl::Status ValidateNewJob(const NewJob& job) {
  if (job.id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("job id %d: expected a positive id", job.id));
  }
  if (job.queue.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("job %d: queue must not be empty", job.id));
  }
  if (job.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "job %d: max_attempts %d: expected >= 1", job.id, job.max_attempts));
  }
  if (job.timeout < absl::ZeroDuration() ||
      job.backoff_base < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "job %d: timeout and backoff_base must not be negative", job.id));
  }
  return absl::OkStatus();
}

absl::Status ValidateLeaderElect(const LeaderAttemptElectParams& params) {
  if (params.name.empty() || params.leader_id.empty() ||
      params.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "leader election needs a name, a leader id and a positive ttl");
  }
  return absl::OkStatus();
}

}  // namespace popqueue::store
