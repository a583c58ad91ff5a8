#include "coord/redis/redis_subscriber.h"

#include <utility>

#include "common/log.h"

namespace popqueue::coord {
namespace {

// How often a blocked read looks at the stop flag: bounds Stop()'s latency.
constexpr absl::Duration kReadSlice = absl::Milliseconds(200);

}  // namespace

RedisSubscriber::RedisSubscriber(std::shared_ptr<redis::Client> client, std::string channel)
    : client_(std::move(client)), channel_(std::move(channel)) {}

RedisSubscriber::~RedisSubscriber() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int RedisSubscriber::Add(std::function<void(const std::string& queue)> callback) {
  int handle;
  {
    absl::WriterMutexLock lock(&callbacks_mu_);
    handle = next_handle_++;
    callbacks_[handle] = std::move(callback);
  }
  absl::MutexLock lock(&mu_);
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Loop(); });
  }
  return handle;
}

void RedisSubscriber::Remove(int handle) {
  absl::WriterMutexLock lock(&callbacks_mu_);
  callbacks_.erase(handle);
}

void RedisSubscriber::Deliver(const std::string& queue) {
  absl::ReaderMutexLock lock(&callbacks_mu_);
  for (const auto& [handle, cb] : callbacks_) cb(queue);
}

bool RedisSubscriber::WaitForStop(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  return mu_.AwaitWithTimeout(absl::Condition(&stop), d);
}

void RedisSubscriber::Loop() {
  bool connected_before = false;
  while (!WaitForStop(absl::ZeroDuration())) {
    auto conn = client_->OpenDedicated();
    absl::Status s = conn.ok() ? (*conn)->Send({"SUBSCRIBE", channel_}) : conn.status();
    if (!s.ok()) {
      Logf(LogLevel::kDebug, "wake subscriber: %s", std::string(s.message()));
      // The client spaces connection attempts (backoff); wait a little so
      // this loop does not spin on its immediate refusals.
      if (WaitForStop(absl::Milliseconds(100))) return;
      continue;
    }
    if (connected_before) Deliver("");  // messages may have been lost
    connected_before = true;
    while (true) {
      if (WaitForStop(absl::ZeroDuration())) return;
      auto reply = (*conn)->ReadReply(kReadSlice);
      if (!reply.ok()) {
        Logf(LogLevel::kInfo, "wake subscriber: %s; reconnecting",
             std::string(reply.status().message()));
        break;
      }
      if (!reply->has_value()) continue;
      const redis::Reply& r = **reply;
      // ["message", channel, payload]; ["subscribe", ...] confirms.
      if (r.type == redis::Reply::Type::kArray && r.elements.size() == 3 &&
          r.elements[0].str == "message") {
        Deliver(r.elements[2].str);
      }
    }
  }
}

}  // namespace popqueue::coord
