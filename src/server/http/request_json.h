// Parsing of REST requests: JSON bodies, job ids, enqueue requests and list
// filters. Every error is InvalidArgument with a "<field>: " message prefix
// (see api_error.h), so the client learns which field to fix.
#ifndef POPQUEUE_SERVER_HTTP_REQUEST_JSON_H_
#define POPQUEUE_SERVER_HTTP_REQUEST_JSON_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "popqueue/admin.h"
#include "popqueue/queue.h"

namespace popqueue::server {

// Query parameters as httplib keeps them.
using QueryParams = std::multimap<std::string, std::string>;

inline constexpr int kMaxBatchJobs = 1000;
inline constexpr int kMaxJsonDepth = 64;

// Parses `body` as a JSON object. Malformed JSON, invalid UTF-8, nesting
// deeper than kMaxJsonDepth or a non-object are "body: ..." errors.
absl::StatusOr<nlohmann::json> ParseJsonObject(const std::string& body);

// A job id in its decimal form ("1234"); `field` names it in errors.
absl::StatusOr<JobId> ParseJobId(std::string_view text, std::string_view field);
// A job id given as a decimal string or an integer.
absl::StatusOr<JobId> JobIdFromJson(const nlohmann::json& value, std::string_view field);

// One job of POST /api/jobs: {name, data, identifier, queue, priority,
// runAt | delaySeconds | score, maxAttempts, timeoutSeconds, backoffSeconds}.
// `prefix` ("" or "jobs[3].") is put before field names in errors. `data`
// may be a string (stored as is) or any JSON value (stored serialized).
absl::StatusOr<EnqueueRequest> ParseEnqueueRequest(const nlohmann::json& item,
                                                   const std::string& prefix);

// ResourceExhausted (HTTP 413) "<prefix>data: ..." when the payload is larger
// than `max_payload_bytes` (the Queue's QueueConfig::max_payload_bytes).
absl::Status CheckPayloadSize(const EnqueueRequest& request, size_t max_payload_bytes,
                              const std::string& prefix);

// The filter of GET /api/jobs: state (comma list), name, queue, identifier,
// limit (1-1000, default 50), before (a job id: keyset cursor).
absl::StatusOr<JobFilter> ParseJobFilter(const QueryParams& params);

// Compact JSON; invalid UTF-8 in stored data is replaced, never thrown on.
std::string DumpJson(const nlohmann::json& value);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_HTTP_REQUEST_JSON_H_
