#include "notify/slack_notifier.h"

#include "absl/strings/str_cat.h"
#include "notify/curl_transfer.h"

namespace popqueue::notify {
namespace {

// The Web API's error codes that a later attempt may not get.
bool TransientSlackError(const std::string& error) {
  return error == "ratelimited" || error == "internal_error" || error == "fatal_error" ||
         error == "service_unavailable" || error == "request_timeout";
}

bool AuthSlackError(const std::string& error) {
  return error == "invalid_auth" || error == "not_authed" || error == "account_inactive" ||
         error == "token_revoked" || error == "token_expired" || error == "missing_scope";
}

}  // namespace

absl::Status SlackNotifier::Send(const Notification& n, const std::atomic<bool>& abort) {
  nlohmann::json body = {{"channel", config_.channel}, {"text", n.Text()}};
  HttpRequest request{
      .url = absl::StrCat(config_.api_base_url, "/chat.postMessage"),
      .headers = {"Content-Type: application/json; charset=utf-8",
                  absl::StrCat("Authorization: Bearer ", config_.token), "Expect:"},
      .body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      .ca_file = config_.ca_file,
      .timeout = config_.delivery.timeout,
  };
  absl::StatusOr<HttpResponse> response = HttpPost(request, abort);
  if (!response.ok()) return response.status();
  const std::string what = absl::StrCat("Slack ", RedactUrl(request.url));
  if (absl::Status s = StatusFromHttp(response->status, what); !s.ok()) return s;

  nlohmann::json reply = nlohmann::json::parse(response->body, nullptr, false);
  if (!reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean()) {
    return absl::UnavailableError(absl::StrCat(what, " answered without an \"ok\" field"));
  }
  if (reply["ok"].get<bool>()) return absl::OkStatus();
  std::string error = reply.value("error", std::string("unknown_error"));
  if (error.size() > 100) error.resize(100);
  std::string message = absl::StrCat(what, " answered ok=false, error \"", error, "\"");
  if (TransientSlackError(error)) return absl::UnavailableError(message);
  if (AuthSlackError(error)) {
    return absl::PermissionDeniedError(absl::StrCat(message, "; check slack.token"));
  }
  return absl::FailedPreconditionError(message);
}

}  // namespace popqueue::notify
