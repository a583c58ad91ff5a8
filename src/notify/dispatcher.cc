// The Dispatcher keeps notification delivery off the workers' path.
//
// Each notifier gets a Lane: a bounded deque, counters and one sender thread.
// Publish() (called on worker threads through the event listener) takes each
// wanted lane's mutex only to append a shared pointer, or to count a drop
// when the deque is full: no I/O, no waiting. The sender thread pops one
// notification at a time and runs the channel's DeliveryPolicy; its backoff
// waits on the lane's mutex so that Stop() can cut them short, and its
// transfers watch an abort flag (see curl_transfer.cc) so that a hanging
// endpoint cannot hold up shutdown past the drain deadline.
//
// Listeners hold a shared_ptr to the lanes (Shared), so a Queue that outlives
// its Dispatcher, or a late event during shutdown, finds stopped lanes that
// drop and count rather than freed memory.
#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread.h"
#include "notify/email_notifier.h"
#include "notify/notifier.h"
#include "notify/slack_notifier.h"
#include "notify/webhook_notifier.h"

namespace popqueue::notify {

bool IsRetryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status) || absl::IsInternal(status);
}

struct Dispatcher::Lane {
  Lane(std::unique_ptr<Notifier> n, size_t cap) : notifier(std::move(n)), capacity(cap) {}

  void Run();
  void Deliver(const Notification& n);
  void CountDrop(const Notification& n, const char* why);

  const std::unique_ptr<Notifier> notifier;
  const size_t capacity;

  Mutex mu;
  std::deque<std::shared_ptr<const Notification>> queue ABSL_GUARDED_BY(mu);
  bool accepting ABSL_GUARDED_BY(mu) = true;  // false once Stop() began
  bool stop_now ABSL_GUARDED_BY(mu) = false;  // the drain deadline passed
  bool in_flight ABSL_GUARDED_BY(mu) = false;
  std::atomic<bool> abort{false};  // mirrors stop_now for transfers

  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> dropped{0};
  std::atomic<int64_t> retried{0};

  std::thread thread;
};

struct Dispatcher::Shared {
  bool Wanted(std::string_view event) const {
    for (const auto& lane : lanes) {
      if (lane->notifier->Wants(event)) return true;
    }
    return false;
  }

  // Appends `n` to every lane that wants it; returns how many took it.
  int Publish(const std::shared_ptr<const Notification>& n) {
    int accepted = 0;
    for (const auto& lane : lanes) {
      if (!lane->notifier->Wants(n->event)) continue;
      bool full = false;
      {
        MutexLock lock(&lane->mu);
        full = !lane->accepting || lane->queue.size() >= lane->capacity;
        if (!full) lane->queue.push_back(n);
      }
      if (full) {
        lane->CountDrop(*n, "queue full or stopped");
      } else {
        ++accepted;
      }
    }
    return accepted;
  }

  std::vector<std::unique_ptr<Lane>> lanes;
};

void Dispatcher::Lane::CountDrop(const Notification& n, const char* why) {
  int64_t count = dropped.fetch_add(1) + 1;
  // Under a flood, log the 1st, 2nd, 4th, 8th... drop rather than every one.
  if ((count & (count - 1)) == 0) {
    Logf(LogLevel::kWarn, "notify: %s dropped %s %s (%s); %d dropped so far", notifier->channel(),
         n.event, n.delivery_id, why, count);
  }
}

void Dispatcher::Lane::Run() {
  while (true) {
    std::shared_ptr<const Notification> n;
    {
      MutexLock lock(&mu);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return !queue.empty() || !accepting; };
      mu.Await(absl::Condition(&ready));
      if (queue.empty() || stop_now) return;
      n = std::move(queue.front());
      queue.pop_front();
      in_flight = true;
    }
    Deliver(*n);
    MutexLock lock(&mu);
    in_flight = false;
  }
}

void Dispatcher::Lane::Deliver(const Notification& n) {
  const DeliveryPolicy& policy = notifier->delivery();
  absl::Duration backoff = policy.backoff;
  for (int attempt = 1;; ++attempt) {
    absl::Status status = notifier->Send(n, abort);
    if (status.ok()) {
      sent.fetch_add(1);
      Logf(LogLevel::kDebug, "notify: %s delivered %s %s (attempt %d)", notifier->channel(),
           n.event, n.delivery_id, attempt);
      return;
    }
    if (absl::IsCancelled(status) || abort.load()) {
      CountDrop(n, "shutdown");
      return;
    }
    if (!IsRetryable(status) || attempt >= policy.max_attempts) {
      failed.fetch_add(1);
      Logf(LogLevel::kWarn, "notify: %s gave up on %s %s after %d attempt%s: %s",
           notifier->channel(), n.event, n.delivery_id, attempt, attempt == 1 ? "" : "s",
           status.ToString());
      return;
    }
    retried.fetch_add(1);
    Logf(LogLevel::kInfo, "notify: %s attempt %d of %d for %s failed, retrying in %s: %s",
         notifier->channel(), attempt, policy.max_attempts, n.delivery_id,
         absl::FormatDuration(backoff), status.ToString());
    {
      MutexLock lock(&mu);
      if (mu.AwaitWithTimeout(absl::Condition(&stop_now), backoff)) {
        CountDrop(n, "shutdown");
        return;
      }
    }
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

absl::StatusOr<std::unique_ptr<Dispatcher>> Dispatcher::Create(const NotifyConfig& config) {
  std::vector<std::unique_ptr<Notifier>> notifiers;
  if (config.webhook) notifiers.push_back(std::make_unique<WebhookNotifier>(*config.webhook));
  if (config.email) notifiers.push_back(std::make_unique<EmailNotifier>(*config.email));
  if (config.slack) notifiers.push_back(std::make_unique<SlackNotifier>(*config.slack));
  if (notifiers.empty()) {
    return absl::InvalidArgumentError(
        "notificationConfig: no channel configured (expected webhook, email or slack)");
  }
  return std::make_unique<Dispatcher>(std::move(notifiers), config.queue_capacity, config.backlog);
}

Dispatcher::Dispatcher(std::vector<std::unique_ptr<Notifier>> notifiers, size_t capacity,
                       std::optional<BacklogConfig> backlog)
    : shared_(std::make_shared<Shared>()), backlog_(backlog) {
  for (auto& n : notifiers) {
    shared_->lanes.push_back(std::make_unique<Lane>(std::move(n), std::max<size_t>(capacity, 1)));
  }
  for (auto& lane : shared_->lanes) {
    lane->thread = StartThread([l = lane.get()] { l->Run(); });
  }
}

Dispatcher::~Dispatcher() { Stop(absl::ZeroDuration()); }

absl::Status Dispatcher::Attach(Queue& queue) {
  if (absl::Status s = queue.OnEvent(Listener()); !s.ok()) return s;
  if (!backlog_) return absl::OkStatus();
  MutexLock lock(&mu_);
  if (stopped_) return absl::FailedPreconditionError("notify: Attach() after Stop()");
  if (monitor_.joinable()) {
    return absl::FailedPreconditionError(
        "notify: the backlog monitor is already attached to a queue");
  }
  monitor_ = StartThread([this, q = &queue] { MonitorLoop(q); });
  return absl::OkStatus();
}

EventListener Dispatcher::Listener() {
  return [shared = shared_](const JobEvent& event) {
    const char* name = event.kind == JobEvent::Kind::kDead       ? kEventJobDead
                       : event.kind == JobEvent::Kind::kRetrying ? kEventJobFailed
                                                                 : nullptr;
    if (name == nullptr || !shared->Wanted(name)) return;
    std::optional<Notification> n = NotificationFromJobEvent(event, absl::Now());
    if (n) shared->Publish(std::make_shared<const Notification>(*std::move(n)));
  };
}

int Dispatcher::Publish(Notification notification) {
  if (notification.delivery_id.empty()) notification.delivery_id = NewDeliveryId();
  return shared_->Publish(std::make_shared<const Notification>(std::move(notification)));
}

absl::Status Dispatcher::CheckBacklog(Queue& queue) {
  if (!backlog_) return absl::OkStatus();
  // A cluster fact, told once: only the maintenance leader evaluates it. A
  // process that is not (or no longer) leader forgets what it told, so a new
  // leader tells each queue still over the threshold once more at most.
  if (!queue.is_leader()) {
    MutexLock lock(&mu_);
    over_threshold_.clear();
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<QueueCounts>> counts = queue.CountByState();
  if (!counts.ok()) {
    return absl::Status(counts.status().code(),
                        absl::StrCat("notify: backlog check: ", counts.status().message()));
  }
  std::vector<Notification> fire;
  {
    MutexLock lock(&mu_);
    for (const QueueCounts& q : *counts) {
      auto it = q.by_state.find(JobState::kAvailable);
      int64_t available = it == q.by_state.end() ? 0 : it->second;
      if (over_threshold_.count(q.queue) != 0) {
        // Told already: rearmed once it is back at the clear level.
        if (available <= backlog_->clear_level()) over_threshold_.erase(q.queue);
        continue;
      }
      if (available <= backlog_->threshold) continue;
      over_threshold_.insert(q.queue);
      Notification n;
      n.event = kEventQueueBacklog;
      n.delivery_id = NewDeliveryId();
      n.at = absl::Now();
      n.queue = q.queue;
      n.backlog = available;
      n.threshold = backlog_->threshold;
      fire.push_back(std::move(n));
    }
  }
  for (Notification& n : fire) Publish(std::move(n));
  return absl::OkStatus();
}

void Dispatcher::MonitorLoop(Queue* queue) {
  while (true) {
    {
      MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped_), backlog_->check_interval)) return;
    }
    if (absl::Status s = CheckBacklog(*queue); !s.ok()) {
      Logf(LogLevel::kWarn, "%s", s.ToString());
    }
  }
}

void Dispatcher::Stop(absl::Duration drain) {
  std::thread monitor;
  {
    MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    monitor = std::move(monitor_);
  }
  if (monitor.joinable()) monitor.join();
  for (auto& lane : shared_->lanes) {
    MutexLock lock(&lane->mu);
    lane->accepting = false;
  }
  WaitIdle(drain);
  for (auto& lane : shared_->lanes) {
    size_t left = 0;
    {
      MutexLock lock(&lane->mu);
      lane->stop_now = true;
      lane->abort = true;
      left = lane->queue.size();
      lane->queue.clear();
    }
    if (left > 0) {
      lane->dropped.fetch_add(static_cast<int64_t>(left));
      Logf(LogLevel::kWarn, "notify: %s dropped %d undelivered notifications at shutdown",
           lane->notifier->channel(), left);
    }
  }
  for (auto& lane : shared_->lanes) {
    if (lane->thread.joinable()) lane->thread.join();
  }
}

bool Dispatcher::WaitIdle(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  bool idle = true;
  for (auto& lane : shared_->lanes) {
    Lane* l = lane.get();
    MutexLock lock(&l->mu);
    auto done = [l]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu) {
      return l->stop_now || (l->queue.empty() && !l->in_flight);
    };
    idle = l->mu.AwaitWithDeadline(absl::Condition(&done), deadline) && idle;
  }
  return idle;
}

NotifyCounters Dispatcher::counters() const {
  NotifyCounters total;
  for (const ChannelCounters& c : channel_counters()) {
    total.sent += c.counters.sent;
    total.failed += c.counters.failed;
    total.dropped += c.counters.dropped;
    total.retried += c.counters.retried;
  }
  return total;
}

std::vector<ChannelCounters> Dispatcher::channel_counters() const {
  std::vector<ChannelCounters> out;
  for (const auto& lane : shared_->lanes) {
    ChannelCounters c;
    c.channel = std::string(lane->notifier->channel());
    c.counters = {.sent = lane->sent.load(),
                  .failed = lane->failed.load(),
                  .dropped = lane->dropped.load(),
                  .retried = lane->retried.load()};
    {
      MutexLock lock(&lane->mu);
      c.queued = lane->queue.size();
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string RenderPrometheus(const std::vector<ChannelCounters>& counters) {
  std::string out =
      "# HELP popqueue_notifications_total Notifications by channel and outcome: sent, "
      "failed (given up), dropped (queue full or shutdown), retried (failed attempts "
      "tried again).\n"
      "# TYPE popqueue_notifications_total counter\n";
  for (const ChannelCounters& c : counters) {
    for (const auto& [outcome, value] : {std::pair<const char*, int64_t>{"sent", c.counters.sent},
                                         {"failed", c.counters.failed},
                                         {"dropped", c.counters.dropped},
                                         {"retried", c.counters.retried}}) {
      absl::StrAppend(&out, "popqueue_notifications_total{channel=\"", c.channel, "\",outcome=\"",
                      outcome, "\"} ", value, "\n");
    }
  }
  absl::StrAppend(&out,
                  "# HELP popqueue_notifications_queued Notifications waiting to be sent.\n"
                  "# TYPE popqueue_notifications_queued gauge\n");
  for (const ChannelCounters& c : counters) {
    absl::StrAppend(&out, "popqueue_notifications_queued{channel=\"", c.channel, "\"} ", c.queued,
                    "\n");
  }
  return out;
}

}  // namespace popqueue::notify
