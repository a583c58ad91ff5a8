// JSON forms of jobs, shared by the stores (the errors column), the CLI and
// the server. Uses nlohmann::json; not part of the installed API.
#ifndef POPQUEUE_COMMON_JOB_JSON_H_
#define POPQUEUE_COMMON_JOB_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "popqueue/admin.h"
#include "popqueue/job.h"
#include "popqueue/queue.h"

namespace popqueue {

// RFC 3339 UTC with milliseconds: "2026-11-27T20:50:53.123Z".
std::string FormatTimestamp(absl::Time t);

// Parses the stored form of Job::errors,
// [{"attempt":1,"at":<unix ms>,"message":"..."}]; Internal (corrupt row) on
// malformed input.
absl::StatusOr<std::vector<JobError>> ErrorsFromStoredJson(std::string_view json);

// Job metadata (popqueue/job.h). Its stored form, the same in every store:
// a JSON object of strings with sorted keys, "" for none.
std::string EncodeMetadata(const JobMetadata& metadata);
// The stored form back; Internal (corrupt row) on anything else.
absl::StatusOr<JobMetadata> DecodeMetadata(std::string_view stored);
// popqueue/job.h's limits; InvalidArgument naming "metadata" or
// "metadata.<key>" (common/field_error.h).
absl::Status ValidateMetadata(const JobMetadata& metadata);
// {"key": "value", ...} (an empty object for none).
nlohmann::json MetadataToJson(const JobMetadata& metadata);

// The API form of a job (REST, CLI --json): ids as decimal strings, times as
// RFC 3339, states by their stored spelling.
// Workflow edges as [{id: "17", ignoreFailure: false}, ...].
nlohmann::json EdgesToJson(const std::vector<JobEdge>& edges);
nlohmann::json JobToJson(const Job& job);
// The answer to a requeue, for people (REST and gRPC "message"):
// "job 7260813574283264 (send-email) requeued: available, 4 attempts left".
std::string RequeuedMessage(const Job& job);
nlohmann::json QueueCountsToJson(const std::vector<QueueCounts>& counts);
nlohmann::json WorkerToJson(const WorkerInfo& worker);
// {"id", "name", "cron", "timeZone", "queue", "missed": "skip"|"runOnce",
//  "nextFire" (UTC), "nextFireLocal" (in timeZone, with its offset)}; the
// fire times are null when it never fires again.
nlohmann::json ScheduleToJson(const ScheduleInfo& schedule);

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_JOB_JSON_H_
