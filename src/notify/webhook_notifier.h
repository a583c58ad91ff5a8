// WebhookNotifier: POSTs a notification's JSON (Notification::ToJson) to a
// URL. With a secret, each request is signed so the receiver can check it
// came from this queue and was not replayed:
//
//   X-PopQueue-Event: job.dead
//   X-PopQueue-Delivery: <id, the same on every retry: deduplicate on it>
//   X-PopQueue-Timestamp: <Unix seconds when this attempt was sent>
//   X-PopQueue-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// 2xx is success; 5xx, 408, 429 and transport errors are retried; other
// statuses are permanent failures.
//
// Thread-safety: see Notifier.
#ifndef POPQUEUE_NOTIFY_WEBHOOK_NOTIFIER_H_
#define POPQUEUE_NOTIFY_WEBHOOK_NOTIFIER_H_

#include <string>

#include "notify/notifier.h"

namespace popqueue::notify {

inline constexpr char kSignatureHeader[] = "X-PopQueue-Signature";
inline constexpr char kTimestampHeader[] = "X-PopQueue-Timestamp";
inline constexpr char kEventHeader[] = "X-PopQueue-Event";
inline constexpr char kDeliveryHeader[] = "X-PopQueue-Delivery";

class WebhookNotifier : public Notifier {
 public:
  explicit WebhookNotifier(WebhookConfig config) : config_(std::move(config)) {}

  std::string_view channel() const override { return "webhook"; }
  bool Wants(std::string_view event) const override {
    return config_.events.count(std::string(event)) > 0;
  }
  const DeliveryPolicy& delivery() const override { return config_.delivery; }
  absl::Status Send(const Notification& notification, const std::atomic<bool>& abort) override;

  // The signature header's value for `body` sent at `timestamp`.
  static std::string Signature(const std::string& secret, const std::string& timestamp,
                               const std::string& body);

 private:
  const WebhookConfig config_;
};

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_WEBHOOK_NOTIFIER_H_
