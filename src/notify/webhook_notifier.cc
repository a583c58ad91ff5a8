#include "notify/webhook_notifier.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "notify/curl_transfer.h"
#include "notify/hmac.h"

namespace popqueue::notify {

std::string WebhookNotifier::Signature(const std::string& secret, const std::string& timestamp,
                                       const std::string& body) {
  return absl::StrCat("sha256=", HmacSha256Hex(secret, absl::StrCat(timestamp, ".", body)));
}

absl::Status WebhookNotifier::Send(const Notification& n, const std::atomic<bool>& abort) {
  HttpRequest request{
      .url = config_.url,
      .body = n.ToJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      .ca_file = config_.ca_file,
      .timeout = config_.delivery.timeout};
  request.headers = {
      "Content-Type: application/json",
      "User-Agent: pop-queue",
      absl::StrCat(kEventHeader, ": ", n.event),
      absl::StrCat(kDeliveryHeader, ": ", n.delivery_id),
      // An empty Expect stops curl from waiting for "100 Continue".
      "Expect:",
  };
  if (!config_.secret.empty()) {
    // Signed per attempt: a retry carries a fresh timestamp.
    std::string timestamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
    request.headers.push_back(absl::StrCat(kTimestampHeader, ": ", timestamp));
    request.headers.push_back(
        absl::StrCat(kSignatureHeader, ": ", Signature(config_.secret, timestamp, request.body)));
  }
  absl::StatusOr<HttpResponse> response = HttpPost(request, abort);
  if (!response.ok()) return response.status();
  return StatusFromHttp(response->status, absl::StrCat("webhook ", RedactUrl(config_.url)));
}

}  // namespace popqueue::notify
