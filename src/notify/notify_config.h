// NotifyConfig: which notifications to send where, parsed from config.json's
// `notificationConfig` object (docs/notifications.md has the full reference):
//
//   "notificationConfig": {
//     "queueCapacity": 1000,
//     "backlog": {"threshold": 500, "checkIntervalMs": 30000},
//     "webhook": {"url": "https://example.com/hook", "secret": "s3cret",
//                 "timeoutMs": 5000, "maxAttempts": 3,
//                 "events": ["job.dead", "job.failed"]},
//     "email": {"smtpConfig": {"host": "smtp.example.com", "port": 587,
//                              "secure": false, "starttls": true,
//                              "auth": {"user": "u", "pass": "p"}},
//               "from": "queue@example.com", "to": ["ops@example.com"]},
//     "slack": {"token": "xoxb-...", "channel": "#ops"}
//   }
//
// Every channel is optional; a channel that is absent (or null) is off.
// Secrets (webhook.secret, smtpConfig.auth.pass, slack.token) are never
// logged nor quoted in error messages.
#ifndef POPQUEUE_NOTIFY_NOTIFY_CONFIG_H_
#define POPQUEUE_NOTIFY_NOTIFY_CONFIG_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json_fwd.hpp"

namespace popqueue::notify {

// Event names, as spelled in config.json and in webhook payloads.
inline constexpr char kEventJobDead[] = "job.dead";            // retries exhausted
inline constexpr char kEventJobFailed[] = "job.failed";        // an attempt failed; will retry
inline constexpr char kEventQueueBacklog[] = "queue.backlog";  // backlog over threshold

// How one channel delivers: each notification gets up to `max_attempts`
// tries, each bounded by `timeout`; between tries it waits `backoff`, doubled
// each time up to `max_backoff`. Then it is dropped with a log line.
struct DeliveryPolicy {
  absl::Duration timeout = absl::Seconds(10);      // "timeoutMs"
  int max_attempts = 3;                            // "maxAttempts" (>= 1)
  absl::Duration backoff = absl::Seconds(1);       // "backoffMs"
  absl::Duration max_backoff = absl::Seconds(30);  // "maxBackoffMs"
};

struct WebhookConfig {
  std::string url;      // http:// or https://
  std::string secret;   // HMAC-SHA256 key; "" = unsigned
  std::string ca_file;  // "caFile": PEM bundle to trust instead of the system's
  DeliveryPolicy delivery;
  std::set<std::string> events = {kEventJobDead};
};

struct SmtpConfig {
  std::string host;
  int port = 587;                     // default 465 when secure
  bool secure = false;                // implicit TLS from the first byte (smtps, port 465)
  bool starttls = true;               // when !secure: upgrade with STARTTLS, required
  std::string user;                   // auth.user; "" = no AUTH
  std::string password;               // auth.pass; never logged
  std::string ca_file;                // "caFile": PEM bundle to trust instead of the system's
  bool insecure_skip_verify = false;  // "insecureSkipVerify": testing only
};

struct EmailConfig {
  SmtpConfig smtp;
  std::string from;                            // bare address: "queue@example.com"
  std::vector<std::string> to;                 // one address or a list in JSON
  std::string subject_prefix = "[pop-queue]";  // "subjectPrefix"
  DeliveryPolicy delivery;
  std::set<std::string> events = {kEventJobDead};
};

struct SlackConfig {
  std::string token;    // bot token, sent as "Authorization: Bearer"; never logged
  std::string channel;  // "#ops" or a channel id
  std::string api_base_url = "https://slack.com/api";  // "apiBaseUrl"
  std::string ca_file;                                 // "caFile"
  DeliveryPolicy delivery;
  std::set<std::string> events = {kEventJobDead};
};

struct BacklogConfig {
  int64_t threshold = 0;  // notify when a queue's available jobs exceed it
  // Hysteresis: a queue that was told over the threshold is told again only
  // after its available jobs fell to this level or below ("clearThreshold";
  // 0 to threshold; default: the threshold less a fifth of it).
  std::optional<int64_t> clear_threshold;
  int64_t clear_level() const { return clear_threshold.value_or(threshold - threshold / 5); }
  absl::Duration check_interval = absl::Seconds(30);  // "checkIntervalMs"
};

struct NotifyConfig {
  // Per channel: notifications waiting beyond this are dropped (counted).
  size_t queue_capacity = 1000;  // "queueCapacity"
  std::optional<WebhookConfig> webhook;
  std::optional<EmailConfig> email;
  std::optional<SlackConfig> slack;
  std::optional<BacklogConfig> backlog;

  bool empty() const { return !webhook && !email && !slack; }
};

// Parses and validates `notificationConfig` (an object, or null for none).
// InvalidArgument names the key and what was expected, e.g.
// "notificationConfig.webhook.url: expected an http(s) URL".
// Unknown keys are refused too, so that typos do not silently turn a channel
// off.
absl::StatusOr<NotifyConfig> ParseNotifyConfig(const nlohmann::json& notification_config);

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_NOTIFY_CONFIG_H_
