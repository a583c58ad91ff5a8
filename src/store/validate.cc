#include "store/validate.h"

#include <cstddef>
#include <string>

#include "absl/strings/str_format.h"
#include "common/field_error.h"

namespace popqueue::store {
namespace {

constexpr int kMaxListLimit = 1000;

absl::Status Required(std::string_view field, const std::string& value) {
  if (value.empty()) return FieldError(field, "must not be empty");
  return absl::OkStatus();
}

absl::Status Positive(std::string_view field, absl::Duration d) {
  if (d <= absl::ZeroDuration()) {
    return FieldError(field, absl::StrFormat("must be positive, got %s", absl::FormatDuration(d)));
  }
  return absl::OkStatus();
}

absl::Status AtLeast(std::string_view field, int value, int min) {
  if (value < min) {
    return FieldError(field, absl::StrFormat("must be >= %d, got %d", min, value));
  }
  return absl::OkStatus();
}

std::string Index(std::string_view what, size_t i) {
  return absl::StrFormat("%s[%d].", std::string(what), i);
}

}  // namespace

absl::Status ValidateNewJob(const NewJob& job) {
  if (job.id <= 0) {
    return FieldError("id", absl::StrFormat("must be positive, got %d", job.id));
  }
  if (absl::Status s = Required("queue", job.queue); !s.ok()) return s;
  if (absl::Status s = Required("name", job.name); !s.ok()) return s;
  if (absl::Status s = AtLeast("max_attempts", job.max_attempts, 1); !s.ok()) {
    return s;
  }
  if (job.timeout < absl::ZeroDuration()) {
    return FieldError("timeout", "must not be negative");
  }
  if (job.backoff_base < absl::ZeroDuration()) {
    return FieldError("backoff_base", "must not be negative");
  }
  return absl::OkStatus();
}

absl::Status Validate(const JobInsertManyParams& params) {
  for (size_t i = 0; i < params.jobs.size(); ++i) {
    if (absl::Status s = ValidateNewJob(params.jobs[i]); !s.ok()) {
      return PrefixField(s, Index("jobs", i));
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const JobClaimParams& params) {
  if (absl::Status s = AtLeast("limit", params.limit, 0); !s.ok()) return s;
  return Positive("lease", params.lease);
}

absl::Status Validate(const JobFailManyParams& params) {
  for (size_t i = 0; i < params.items.size(); ++i) {
    const JobState to = params.items[i].to;
    if (to != JobState::kRetryable && to != JobState::kDead && to != JobState::kCancelled &&
        to != JobState::kScheduled) {
      return PrefixField(FieldError("to", absl::StrFormat("a failed job goes to retryable, "
                                                          "dead, cancelled or (snoozed) "
                                                          "scheduled, not %s",
                                                          JobStateName(to))),
                         Index("items", i));
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const JobHeartbeatManyParams& params) {
  return Positive("lease", params.lease);
}

absl::Status Validate(const JobRescueExpiredParams& params) {
  return AtLeast("limit", params.limit, 1);
}

absl::Status Validate(const JobListParams& params) {
  const int limit = params.filter.limit;
  if (limit < 1 || limit > kMaxListLimit) {
    return FieldError("limit", absl::StrFormat("must be 1-%d, got %d", kMaxListLimit, limit));
  }
  return absl::OkStatus();
}

absl::Status Validate(const JobDeleteFinishedBeforeParams& params) {
  if (!IsFinal(params.state)) {
    return FieldError("state", absl::StrFormat("only finished jobs can be cleaned up, not %s",
                                               JobStateName(params.state)));
  }
  return AtLeast("limit", params.limit, 1);
}

absl::Status Validate(const QueueNameParams& params) { return Required("queue", params.queue); }

absl::Status Validate(const QueueOldestDueParams& params) {
  for (size_t i = 0; i < params.queues.size(); ++i) {
    if (params.queues[i].empty()) {
      return FieldError(absl::StrFormat("queues[%d]", i), "must not be empty");
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const LeaderAttemptElectParams& params) {
  if (absl::Status s = Required("name", params.name); !s.ok()) return s;
  if (absl::Status s = Required("leader_id", params.leader_id); !s.ok()) return s;
  return Positive("ttl", params.ttl);
}

absl::Status Validate(const LeaderResignParams& params) {
  if (absl::Status s = Required("name", params.name); !s.ok()) return s;
  return Required("leader_id", params.leader_id);
}

absl::Status Validate(const WorkerRegisterParams& params) {
  return Required("worker.id", params.worker.id);
}

absl::Status Validate(const WorkerHeartbeatParams& params) {
  return Required("worker_id", params.worker_id);
}

absl::Status Validate(const WorkerDeregisterParams& params) {
  return Required("worker_id", params.worker_id);
}

absl::Status Validate(const WorkerListParams& params) { return Positive("ttl", params.ttl); }

absl::Status Validate(const CronFireOnceParams& params) {
  if (absl::Status s = Required("schedule", params.schedule); !s.ok()) return s;
  return PrefixField(ValidateNewJob(params.job), "job.");
}

}  // namespace popqueue::store
