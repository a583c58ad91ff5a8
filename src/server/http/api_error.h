// API errors: an absl::Status mapped mechanically to an HTTP status and the
// JSON error body {"error": {"code", "message", "field", "requiredScope"}}.
//
// The field: a status made by FieldError (common/field_error.h) names it in
// its payload, never in a message to be parsed. The request parsers use REST's
// names ("jobs[2].priority"); the Queue's validation uses the C++ API's
// ("max_attempts"), translated here to REST's ("maxAttempts").
#ifndef POPQUEUE_SERVER_HTTP_API_ERROR_H_
#define POPQUEUE_SERVER_HTTP_API_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace popqueue::server {

struct ApiError {
  int http_status = 500;
  std::string code;  // an absl code name: "INVALID_ARGUMENT", "NOT_FOUND", ...
  std::string message;
  std::string field;  // "" when no single field is at fault
  // 401/403 from the access check: the token scope the call needs
  // ("read", "write", "admin"); "" otherwise.
  std::string required_scope;
};

// InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound
// 404, AlreadyExists/FailedPrecondition/Aborted 409, ResourceExhausted 413,
// Unimplemented 501, Unavailable 503, DeadlineExceeded 504, others 500.
int HttpStatusFor(absl::StatusCode code);
ApiError ToApiError(const absl::Status& status);
// The JSON error body.
nlohmann::json ApiErrorJson(const ApiError& error);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_HTTP_API_ERROR_H_
