// Notifications off the workers' path.
//
// A Notifier delivers one Notification over one channel (webhook, email,
// Slack). A Dispatcher owns the notifiers and, per notifier, a bounded queue
// and a sender thread. Worker threads only ever Publish(): a short mutex hold
// to append to each wanted queue, never I/O, never blocking on a full queue
// (the notification is dropped and counted). The sender thread delivers with
// the channel's DeliveryPolicy (timeout, attempts, exponential backoff) and
// gives up with a log line and a counter. A slow or hanging endpoint delays
// only its own channel.
//
//   absl::StatusOr<notify::NotifyConfig> config =
//       notify::ParseNotifyConfig(json["notificationConfig"]);
//   if (!config.ok()) return config.status();
//   auto dispatcher = notify::Dispatcher::Create(*config);
//   if (!dispatcher.ok()) return dispatcher.status();
//   if (absl::Status s = (*dispatcher)->Attach(queue); !s.ok()) return s;  // before Start()
//   queue.Start();
//   ...
//   queue.Stop();
//   (*dispatcher)->Stop();  // before `queue` is destroyed (the backlog monitor uses it)
#ifndef POPQUEUE_NOTIFY_NOTIFIER_H_
#define POPQUEUE_NOTIFY_NOTIFIER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "notify/notification.h"
#include "notify/notify_config.h"
#include "popqueue/queue.h"

namespace popqueue::notify {

// One delivery channel. Implementations: WebhookNotifier, EmailNotifier,
// SlackNotifier.
//
// Thread-safety: Send() is called from one sender thread at a time; the
// accessors from any thread.
class Notifier {
 public:
  virtual ~Notifier() = default;

  // "webhook", "email" or "slack": for logs and counters.
  virtual std::string_view channel() const = 0;
  // Whether this channel is configured to receive `event`.
  virtual bool Wants(std::string_view event) const = 0;
  virtual const DeliveryPolicy& delivery() const = 0;

  // One delivery attempt, bounded by delivery().timeout. Returns OK when the
  // endpoint accepted it. Failures the next attempt may fix (network, timeout,
  // HTTP 5xx/429, Slack "ratelimited") are kUnavailable or kDeadlineExceeded;
  // other codes (bad credentials, HTTP 4xx, unknown channel) are permanent and
  // not retried. Returns kCancelled soon after `abort` becomes true. Messages
  // never contain secrets.
  virtual absl::Status Send(const Notification& notification, const std::atomic<bool>& abort) = 0;
};

// True for the codes Notifier::Send uses for failures worth retrying.
bool IsRetryable(const absl::Status& status);

// Counters of one channel (or of all of them, summed).
struct NotifyCounters {
  int64_t sent = 0;     // delivered
  int64_t failed = 0;   // given up: attempts exhausted or a permanent error
  int64_t dropped = 0;  // never tried: the queue was full, or shutdown
  int64_t retried = 0;  // failed attempts that were tried again
};

struct ChannelCounters {
  std::string channel;
  NotifyCounters counters;
  size_t queued = 0;  // waiting now
};

// Prometheus text exposition of `counters`, to append to /metrics:
//   popqueue_notifications_total{channel="webhook",outcome="sent"} 12
//   (outcome: sent, failed, dropped, retried)
//   popqueue_notifications_queued{channel="webhook"} 0
std::string RenderPrometheus(const std::vector<ChannelCounters>& counters);

class Dispatcher {
 public:
  // Builds the configured notifiers and starts their sender threads.
  // InvalidArgument when `config` has no channel.
  static absl::StatusOr<std::unique_ptr<Dispatcher>> Create(const NotifyConfig& config);

  // Takes the notifiers; `capacity` bounds each one's queue (>= 1).
  // `backlog`, when set, is what Attach() monitors. Starts sender threads.
  Dispatcher(std::vector<std::unique_ptr<Notifier>> notifiers, size_t capacity,
             std::optional<BacklogConfig> backlog = std::nullopt);
  ~Dispatcher();  // Stop(absl::ZeroDuration())

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Registers Listener() with queue.OnEvent (so call it before
  // queue.Start()) and, when a backlog threshold is configured, starts a
  // thread that calls CheckBacklog(queue) every check interval until Stop().
  // `queue` must outlive Stop().
  absl::Status Attach(Queue& queue);

  // The event listener: turns kDead/kRetrying events into notifications and
  // Publish()es them. Safe to keep and call after the Dispatcher is stopped
  // or destroyed (it then drops and does nothing).
  EventListener Listener();

  // Queues `notification` for every notifier that wants its event. Never
  // blocks on I/O; returns how many channels accepted it (a full or stopped
  // channel drops it and counts the drop).
  int Publish(Notification notification);

  // One backlog check, by the maintenance leader only (queue.is_leader();
  // a no-op elsewhere and without a backlog config): publishes queue.backlog
  // for each queue whose available jobs went over the threshold since the
  // last check. It fires again for that queue only after its backlog fell
  // to the clear level (BacklogConfig::clear_level) or below.
  absl::Status CheckBacklog(Queue& queue);

  // Stops accepting, lets sender threads deliver what is queued for up to
  // `drain`, then aborts in-flight attempts and drops (counts) the rest.
  // Idempotent; blocks until the threads have exited.
  void Stop(absl::Duration drain = absl::Seconds(5));

  // Summed over channels; and per channel.
  NotifyCounters counters() const;
  std::vector<ChannelCounters> channel_counters() const;

  // Blocks until every channel's queue is empty and nothing is in flight, or
  // `timeout` passes. Returns whether it became idle. For tests and drains.
  bool WaitIdle(absl::Duration timeout);

 private:
  struct Lane;    // one notifier, its queue, its counters and its thread
  struct Shared;  // what listeners keep alive after the Dispatcher is gone

  void MonitorLoop(Queue* queue);

  std::shared_ptr<Shared> shared_;
  std::optional<BacklogConfig> backlog_;

  Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;  // started by Attach() when backlog_ is set
  // Queues told over the threshold (rearmed at the clear level); cleared
  // while this process is not the leader.
  std::set<std::string> over_threshold_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_NOTIFIER_H_
