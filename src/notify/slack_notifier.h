// SlackNotifier: posts a notification's text (Notification::Text) to a Slack
// channel with the Web API's chat.postMessage:
//
//   POST <apiBaseUrl>/chat.postMessage
//   Authorization: Bearer <token>
//   {"channel": "#ops", "text": "..."}
//
// Slack answers HTTP 200 with {"ok": false, "error": "..."} for most
// failures: that is a failure too (retried for "ratelimited" and Slack's own
// transient errors, permanent for e.g. "invalid_auth" or "channel_not_found").
// apiBaseUrl is configurable for Slack-compatible servers and tests.
//
// Thread-safety: see Notifier.
#ifndef POPQUEUE_NOTIFY_SLACK_NOTIFIER_H_
#define POPQUEUE_NOTIFY_SLACK_NOTIFIER_H_

#include <string>

#include "notify/notifier.h"

namespace popqueue::notify {

class SlackNotifier : public Notifier {
 public:
  explicit SlackNotifier(SlackConfig config) : config_(std::move(config)) {}

  std::string_view channel() const override { return "slack"; }
  bool Wants(std::string_view event) const override {
    return config_.events.count(std::string(event)) > 0;
  }
  const DeliveryPolicy& delivery() const override { return config_.delivery; }
  absl::Status Send(const Notification& notification, const std::atomic<bool>& abort) override;

 private:
  const SlackConfig config_;
};

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_SLACK_NOTIFIER_H_
