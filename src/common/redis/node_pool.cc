#include "common/redis/node_pool.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace popqueue::redis {

NodePool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) {
    pool_->Release(std::move(conn_), generation_);
  }
}

absl::StatusOr<std::unique_ptr<Connection>> NodePool::OpenDedicated() {
  {
    MutexLock lock(&mu_);
    if (absl::Now() < next_connect_) {
      return absl::UnavailableError(absl::StrCat(
          std::string(last_connect_error_.message()), " (retrying in ",
          absl::FormatDuration(absl::Trunc(next_connect_ - absl::Now(), absl::Milliseconds(1))),
          ")"));
    }
  }
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(options_);
  MutexLock lock(&mu_);
  if (conn.ok()) {
    backoff_ = absl::ZeroDuration();
    next_connect_ = absl::InfinitePast();
  } else if (absl::IsUnavailable(conn.status())) {
    backoff_ = std::clamp(backoff_ * 2, absl::Milliseconds(50), absl::Seconds(2));
    next_connect_ = absl::Now() + backoff_;
    // A copy with a rep of its own: sharing the returned status's rep would
    // make its reference count cross threads through Abseil's compiled
    // Unref, which ThreadSanitizer cannot see (a false report).
    last_connect_error_ = absl::Status(conn.status().code(), conn.status().message());
    ++generation_;  // idle connections point at the same unreachable server
  }
  return conn;
}

absl::StatusOr<NodePool::Lease> NodePool::Acquire() {
  uint64_t generation = 0;
  {
    MutexLock lock(&mu_);
    while (!idle_.empty()) {
      auto [conn, gen] = std::move(idle_.back());
      idle_.pop_back();
      if (gen == generation_ && !conn->broken()) {
        return Lease(this, std::move(conn), gen);
      }
    }
    generation = generation_;
  }
  absl::StatusOr<std::unique_ptr<Connection>> conn = OpenDedicated();
  if (!conn.ok()) return conn.status();
  return Lease(this, *std::move(conn), generation);
}

void NodePool::Release(std::unique_ptr<Connection> conn, uint64_t generation) {
  MutexLock lock(&mu_);
  if (conn->broken()) {
    // Probably the server went away: drop the other idle connections too.
    if (generation == generation_) ++generation_;
    return;
  }
  if (generation != generation_ || idle_.size() >= static_cast<size_t>(options_.pool_size)) {
    return;
  }
  idle_.emplace_back(std::move(conn), generation);
}

}  // namespace popqueue::redis
