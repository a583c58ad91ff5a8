// Notification: one thing worth telling a human or a system about (a job
// dead-lettered, an attempt failed, a queue's backlog over its threshold), in
// a channel-neutral form each Notifier renders its own way.
#ifndef POPQUEUE_NOTIFY_NOTIFICATION_H_
#define POPQUEUE_NOTIFY_NOTIFICATION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "popqueue/job.h"
#include "popqueue/queue.h"

namespace popqueue::notify {

// Notifications wait in bounded queues: a payload beyond this is cut.
inline constexpr size_t kMaxNotificationData = 16 * 1024;

struct Notification {
  std::string event;        // kEventJobDead, kEventJobFailed or kEventQueueBacklog
  std::string delivery_id;  // unique per notification; the same on every retry
  absl::Time at = absl::UnixEpoch();
  std::string queue;

  // Job events.
  JobId job_id = 0;
  std::string job_name;
  std::string identifier;
  // The payload, cut to kMaxNotificationData bytes (data_truncated then):
  // in webhook bodies only, never in email or Slack text.
  std::string data;
  bool data_truncated = false;
  int attempt = 0;
  int max_attempts = 0;
  std::string error;
  std::optional<absl::Time> next_run_at;  // job.failed

  // queue.backlog.
  int64_t backlog = 0;
  int64_t threshold = 0;

  // One line: "job 123 (send-email) is dead after 4 attempts on queue default".
  std::string Summary() const;
  // A few lines for humans (email body, Slack text); no payload.
  std::string Text() const;
  // The webhook body: {"event", "deliveryId", "at", "queue", "job": {...}} or
  // {..., "backlog": {"count", "threshold"}}.
  nlohmann::json ToJson() const;
};

// The notification for a worker event: kDead -> job.dead, kRetrying ->
// job.failed; nullopt for every other kind.
std::optional<Notification> NotificationFromJobEvent(const JobEvent& event, absl::Time now);

// A fresh, unique delivery id ("n-<time>-<counter>-<random>").
std::string NewDeliveryId();

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_NOTIFICATION_H_
