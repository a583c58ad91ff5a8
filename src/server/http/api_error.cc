#include "server/http/api_error.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "common/field_error.h"

namespace popqueue::server {
namespace {

// The Queue API's snake_case option names as REST fields.
std::string RestFieldName(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"max_attempts", "maxAttempts"},    {"run_at", "runAt"},
      {"delay", "delaySeconds"},          {"timeout", "timeoutSeconds"},
      {"backoff_base", "backoffSeconds"}, {"depends_on", "dependsOn"},
      {"on_complete", "onComplete"},      {"on_success", "onSuccess"},
  };
  for (const auto& [from, to] : kNames) {
    if (name == from) return std::string(to);
  }
  return std::string(name);
}

// The field a status names (common/field_error.h), each part in REST's
// spelling, indexes kept: "jobs[2].depends_on[0]" -> "jobs[2].dependsOn[0]",
// "on_complete.max_attempts" -> "onComplete.maxAttempts".
std::string RestField(const absl::Status& status) {
  const std::string field = ErrorField(status);
  std::string out;
  size_t start = 0;
  while (start <= field.size()) {
    size_t dot = field.find('.', start);
    if (dot == std::string::npos) dot = field.size();
    std::string_view part = std::string_view(field).substr(start, dot - start);
    const size_t bracket = std::min(part.find('['), part.size());
    if (start > 0) out += '.';
    out += RestFieldName(part.substr(0, bracket));
    out += part.substr(bracket);
    start = dot + 1;
  }
  return out;
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 413;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

ApiError ToApiError(const absl::Status& status) {
  std::string message(status.message());
  ApiError e{.http_status = HttpStatusFor(status.code()),
             .code = absl::StatusCodeToString(status.code()),
             .message = message};
  e.field = RestField(status);
  return e;
}

nlohmann::json ApiErrorJson(const ApiError& error) {
  nlohmann::json body = {{"code", error.code}, {"message", error.message}};
  if (!error.field.empty()) body["field"] = error.field;
  if (!error.required_scope.empty()) body["requiredScope"] = error.required_scope;
  return {{"error", body}};
}

}  // namespace popqueue::server
