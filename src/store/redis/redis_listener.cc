#include "store/redis/redis_listener.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread.h"

namespace popqueue::store::redis_store {

Listener::Listener(std::shared_ptr<redis::Client> client, std::string channel)
    : client_(std::move(client)), channel_(std::move(channel)) {}

Listener::~Listener() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool Listener::stopping() {
  MutexLock lock(&mu_);
  return stop_;
}

absl::StatusOr<std::unique_ptr<redis::Connection>> Listener::Connect() {
  absl::StatusOr<std::unique_ptr<redis::Connection>> conn = client_->OpenDedicated();
  if (!conn.ok()) return conn.status();
  if (absl::Status s = (*conn)->Send({"SUBSCRIBE", channel_}); !s.ok()) return s;
  // The confirmation: ["subscribe", channel, 1].
  absl::StatusOr<std::optional<redis::Reply>> r =
      (*conn)->ReadReply(client_->options().command_timeout);
  if (!r.ok()) return r.status();
  if (!r->has_value() || (*r)->type != redis::Reply::Type::kArray || (*r)->elements.empty() ||
      (*r)->elements[0].str != "subscribe") {
    return absl::UnavailableError(absl::StrCat("Redis at ", (*conn)->options().Endpoint(),
                                               ": no confirmation of SUBSCRIBE ", channel_));
  }
  return conn;
}

absl::StatusOr<int> Listener::Subscribe(Callback callback) {
  MutexLock start(&start_mu_);
  if (!thread_.joinable()) {
    absl::StatusOr<std::unique_ptr<redis::Connection>> conn = Connect();
    if (!conn.ok()) return conn.status();
    thread_ = StartThread(&Listener::Run, this, *std::move(conn));
  }
  MutexLock lock(&mu_);
  const int handle = next_handle_++;
  callbacks_.emplace(handle, std::move(callback));
  return handle;
}

void Listener::Unsubscribe(int handle) {
  MutexLock lock(&mu_);
  callbacks_.erase(handle);
}

void Listener::Run(std::unique_ptr<redis::Connection> conn) {
  while (!stopping()) {
    if (conn == nullptr || conn->broken()) {
      conn.reset();
      absl::StatusOr<std::unique_ptr<redis::Connection>> again = Connect();
      if (!again.ok()) {
        // The client's backoff makes most attempts fail fast; wait a little.
        MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
        continue;
      }
      conn = *std::move(again);
    }
    absl::StatusOr<std::optional<redis::Reply>> r = conn->ReadReply(absl::Milliseconds(200));
    if (!r.ok() || !r->has_value()) continue;
    const redis::Reply& m = **r;
    if (m.type == redis::Reply::Type::kArray && m.elements.size() == 3 &&
        m.elements[0].str == "message") {
      MutexLock lock(&mu_);
      for (auto& [handle, callback] : callbacks_) callback(m.elements[2].str);
    }
  }
}

}  // namespace popqueue::store::redis_store
