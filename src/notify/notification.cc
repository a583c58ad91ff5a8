#include "notify/notification.h"

#include <atomic>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "notify/notify_config.h"

namespace popqueue::notify {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

std::string Notification::Summary() const {
  if (event == kEventQueueBacklog) {
    return absl::StrFormat("queue %s has %d available jobs (threshold %d)", queue, backlog,
                           threshold);
  }
  if (event == kEventJobDead) {
    return absl::StrFormat("job %d (%s) is dead after %d attempts on queue %s", job_id, job_name,
                           attempt, queue);
  }
  return absl::StrFormat("job %d (%s) failed attempt %d of %d on queue %s", job_id, job_name,
                         attempt, max_attempts, queue);
}

std::string Notification::Text() const {
  std::string text = Summary();
  if (event == kEventQueueBacklog) return text;
  if (!identifier.empty()) absl::StrAppend(&text, "\nidentifier: ", identifier);
  if (!error.empty()) absl::StrAppend(&text, "\nerror: ", error);
  if (next_run_at) absl::StrAppend(&text, "\nnext attempt at: ", Rfc3339(*next_run_at));
  if (event == kEventJobDead) {
    absl::StrAppend(&text, "\nrequeue with: popqueue requeue ", job_id);
  }
  return text;
}

nlohmann::json Notification::ToJson() const {
  nlohmann::json j = {
      {"event", event}, {"deliveryId", delivery_id}, {"at", Rfc3339(at)},
      {"queue", queue}, {"summary", Summary()},
  };
  if (event == kEventQueueBacklog) {
    j["backlog"] = {{"count", backlog}, {"threshold", threshold}};
    return j;
  }
  nlohmann::json job = {
      // Ids are int64: a string keeps them exact in JavaScript consumers.
      {"id", std::to_string(job_id)},    {"name", job_name},
      {"identifier", identifier},        {"data", data},
      {"dataTruncated", data_truncated}, {"attempt", attempt},
      {"maxAttempts", max_attempts},     {"error", error},
  };
  if (next_run_at) job["nextRunAt"] = Rfc3339(*next_run_at);
  j["job"] = std::move(job);
  return j;
}

std::optional<Notification> NotificationFromJobEvent(const JobEvent& event, absl::Time now) {
  Notification n;
  switch (event.kind) {
    case JobEvent::Kind::kDead: n.event = kEventJobDead; break;
    case JobEvent::Kind::kRetrying:
      n.event = kEventJobFailed;
      n.next_run_at = event.next_run_at;
      break;
    default: return std::nullopt;
  }
  n.delivery_id = NewDeliveryId();
  n.at = now;
  n.queue = event.job.queue.empty() ? "default" : event.job.queue;
  n.job_id = event.job.id;
  n.job_name = event.job.name;
  n.identifier = event.job.identifier;
  n.data = event.job.data;
  if (n.data.size() > kMaxNotificationData) {
    size_t cut = kMaxNotificationData;
    // Back up to a UTF-8 character boundary.
    while (cut > 0 && (static_cast<unsigned char>(n.data[cut]) & 0xC0) == 0x80) --cut;
    n.data.resize(cut);
    n.data_truncated = true;
  }
  n.attempt = event.job.attempt;
  n.max_attempts = event.job.max_attempts;
  n.error = event.error;
  return n;
}

std::string NewDeliveryId() {
  static std::atomic<uint64_t> counter{0};
  static const uint32_t process_random = std::random_device{}();
  return absl::StrFormat("n-%d-%08x-%d", absl::ToUnixMillis(absl::Now()), process_random,
                         counter.fetch_add(1) + 1);
}

}  // namespace popqueue::notify
