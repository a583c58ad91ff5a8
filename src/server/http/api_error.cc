#include "server/http/api_error.h"

#include <string_view>

#include "common/field_error.h"

namespace popqueue::server {
namespace {

// The Queue API's snake_case option names as REST fields.
std::string RestFieldName(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"max_attempts", "maxAttempts"},    {"run_at", "runAt"},
      {"delay", "delaySeconds"},          {"timeout", "timeoutSeconds"},
      {"backoff_base", "backoffSeconds"},
  };
  for (const auto& [from, to] : kNames) {
    if (name == from) return std::string(to);
  }
  return std::string(name);
}

// The field a status names (common/field_error.h), its last part in REST's
// spelling: "jobs[2].max_attempts" -> "jobs[2].maxAttempts".
std::string RestField(const absl::Status& status) {
  std::string field = ErrorField(status);
  size_t dot = field.rfind('.');
  if (dot == std::string::npos) return RestFieldName(field);
  return field.substr(0, dot + 1) + RestFieldName(std::string_view(field).substr(dot + 1));
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
