#include "coord/redis/redis_subscriber.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread.h"

namespace popqueue::coord {
namespace {

// How often a blocked read looks at the stop flag: bounds Stop()'s latency.
constexpr absl::Duration kReadSlice = absl::Milliseconds(200);

// A pub/sub push: an array of at least `min_size` whose first element is
// `kind` ("subscribe", "message", "pong").
bool IsPush(const redis::Reply& r, std::string_view kind, size_t min_size) {
  return r.type == redis::Reply::Type::kArray && r.elements.size() >= min_size &&
         r.elements[0].str == kind;
}

}  // namespace

RedisSubscriber::RedisSubscriber(std::shared_ptr<redis::Client> client, std::string channel,
                                 absl::Duration ping_interval)
    : client_(std::move(client)), channel_(std::move(channel)), ping_interval_(ping_interval) {}

RedisSubscriber::~RedisSubscriber() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int RedisSubscriber::Add(std::function<void(const std::string& queue)> callback) {
  int handle;
  {
    WriterMutexLock lock(&callbacks_mu_);
    handle = next_handle_++;
    callbacks_[handle] = std::move(callback);
  }
  MutexLock lock(&mu_);
  if (!started_) {
    started_ = true;
    thread_ = StartThread([this] { Loop(); });
  }
  return handle;
}

void RedisSubscriber::Remove(int handle) {
  WriterMutexLock lock(&callbacks_mu_);
  callbacks_.erase(handle);
}

void RedisSubscriber::Deliver(const std::string& queue) {
  ReaderMutexLock lock(&callbacks_mu_);
  for (const auto& [handle, cb] : callbacks_) cb(queue);
}

bool RedisSubscriber::WaitForStop(absl::Duration d) {
  MutexLock lock(&mu_);
  auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  return mu_.AwaitWithTimeout(absl::Condition(&stop), d);
}

void RedisSubscriber::Loop() {
  bool subscribed_before = false;
  while (!WaitForStop(absl::ZeroDuration())) {
    absl::StatusOr<std::unique_ptr<redis::Connection>> conn = Subscribe();
    if (!conn.ok()) {
      Logf(LogLevel::kDebug, "wake subscriber: %s", std::string(conn.status().message()));
      // The client spaces connection attempts (backoff); wait a little so
      // this loop does not spin on its immediate refusals.
      if (WaitForStop(absl::Milliseconds(100))) return;
      continue;
    }
    if (subscribed_before) Deliver("");  // messages may have been lost
    subscribed_before = true;
    absl::Status s = Listen(**conn);
    if (s.ok()) return;  // stopping
    Logf(LogLevel::kWarn, "wake subscriber: %s; reconnecting", std::string(s.message()));
  }
}

absl::StatusOr<std::unique_ptr<redis::Connection>> RedisSubscriber::Subscribe() {
  absl::StatusOr<std::unique_ptr<redis::Connection>> conn = client_->OpenDedicated();
  if (!conn.ok()) return conn.status();
  if (absl::Status s = (*conn)->Send({"SUBSCRIBE", channel_}); !s.ok()) {
    return s;
  }
  const std::string endpoint = (*conn)->options().Endpoint();
  const absl::Duration timeout = client_->options().command_timeout;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (WaitForStop(absl::ZeroDuration())) {
      return absl::CancelledError("wake subscriber stopping");
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::UnavailableError(
          absl::StrCat("Redis at ", endpoint, " did not confirm SUBSCRIBE within ",
                       absl::FormatDuration(timeout), " (timeout_ms in the Redis URL)"));
    }
    absl::StatusOr<std::optional<redis::Reply>> reply =
        (*conn)->ReadReply(std::min(left, kReadSlice));
    if (!reply.ok()) return reply.status();
    if (!reply->has_value()) continue;
    const redis::Reply& r = **reply;
    if (r.is_error()) return redis::ErrorReplyToStatus(r.str, endpoint);
    // ["subscribe", channel, count]
    if (IsPush(r, "subscribe", 3) && r.elements[1].str == channel_) {
      return conn;
    }
  }
}

absl::Status RedisSubscriber::Listen(redis::Connection& conn) {
  const std::string endpoint = conn.options().Endpoint();
  const absl::Duration timeout = client_->options().command_timeout;
  absl::Time next_ping = absl::Now() + ping_interval_;
  std::optional<absl::Time> pong_due;  // set while a PING is unanswered
  while (true) {
    if (WaitForStop(absl::ZeroDuration())) return absl::OkStatus();
    const absl::Time now = absl::Now();
    if (pong_due && now >= *pong_due) {
      return absl::UnavailableError(absl::StrCat(
          "Redis at ", endpoint, " did not answer PING within ", absl::FormatDuration(timeout),
          " (timeout_ms in the Redis URL): the server may hang"));
    }
    if (!pong_due && now >= next_ping) {
      if (absl::Status s = conn.Send({"PING"}); !s.ok()) return s;
      pong_due = now + timeout;
    }
    const absl::Duration wait =
        std::clamp((pong_due ? *pong_due : next_ping) - now, absl::Milliseconds(1), kReadSlice);
    absl::StatusOr<std::optional<redis::Reply>> reply = conn.ReadReply(wait);
    if (!reply.ok()) return reply.status();
    if (!reply->has_value()) continue;
    const redis::Reply& r = **reply;
    if (IsPush(r, "message", 3)) {  // ["message", channel, payload]
      Deliver(r.elements[2].str);
    } else if (IsPush(r, "pong", 1) || (r.type == redis::Reply::Type::kStatus && r.str == "PONG")) {
      pong_due.reset();
      next_ping = absl::Now() + ping_interval_;
    } else if (r.is_error()) {
      return redis::ErrorReplyToStatus(r.str, endpoint);
    }
  }
}

}  // namespace popqueue::coord
