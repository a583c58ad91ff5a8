#include "store/postgres/pg_listener.h"

#include <poll.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread.h"
#include "store/postgres/pg_exec.h"
#include "store/postgres/sql_catalog.h"

namespace popqueue::store::postgres {

Listener::Listener(ConnSettings settings, std::string channel)
    : settings_(std::move(settings)), channel_(std::move(channel)) {
  if (pipe(wake_fds_) != 0) wake_fds_[0] = wake_fds_[1] = -1;
}

Listener::~Listener() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (wake_fds_[1] >= 0) {
    char b = 1;
    (void)!write(wake_fds_[1], &b, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : wake_fds_) {
    if (fd >= 0) close(fd);
  }
}

int Listener::Subscribe(Callback callback) {
  MutexLock lock(&mu_);
  int handle = next_handle_++;
  callbacks_.emplace(handle, std::move(callback));
  if (!started_) {
    started_ = true;
    thread_ = StartThread([this] { Run(); });
    mu_.AwaitWithTimeout(absl::Condition(&listening_), absl::Seconds(2));
  }
  return handle;
}

void Listener::Unsubscribe(int handle) {
  MutexLock lock(&mu_);
  callbacks_.erase(handle);
}

bool Listener::listening() const {
  MutexLock lock(&mu_);
  return listening_;
}

bool Listener::Sleep(absl::Duration d) {
  MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void Listener::Dispatch(const std::string& queue) {
  MutexLock lock(&mu_);
  for (auto& [handle, callback] : callbacks_) callback(queue);
}

void Listener::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  bool warned = false;
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::StatusOr<ConnPtr> conn = Connect(settings_);
    if (conn.ok()) {
      std::string listen = absl::StrCat("LISTEN ", QuoteIdentifier(channel_));
      const char* what = "listen for notifications";
      absl::StatusOr<Result> r = ExecWithin(
          conn->get(), [&](PGconn* c) { return PQsendQuery(c, listen.c_str()); },
          settings_.query_timeout, settings_.where, what);
      absl::Status s =
          r.ok() ? ResultStatus(r->get(), conn->get(), settings_.where, what) : r.status();
      if (s.ok()) {
        if (warned) {
          Logf(LogLevel::kInfo, "postgres: listener reconnected to %s", settings_.where);
        }
        warned = false;
        backoff = absl::Milliseconds(100);
        Listen(conn->get());
        warned = true;  // the connection dropped (or we are stopping)
        continue;
      }
      conn = s;
    }
    if (!warned) {
      Logf(LogLevel::kWarn, "postgres: listener: %s; retrying with backoff",
           std::string(conn.status().message()));
      warned = true;
    }
    if (!Sleep(backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

void Listener::Listen(PGconn* conn) {
  {
    MutexLock lock(&mu_);
    listening_ = true;
  }
  int sock = PQsocket(conn);
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) break;
    }
    pollfd fds[2] = {{sock, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    int n = poll(fds, wake_fds_[0] >= 0 ? 2 : 1, 1000);
    if (n < 0) continue;  // EINTR
    if (fds[1].revents != 0) break;
    if (n == 0) continue;
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
      Logf(LogLevel::kWarn, "postgres: listener lost its connection to %s; reconnecting",
           settings_.where);
      break;
    }
    while (PGnotify* note = PQnotifies(conn)) {
      std::string queue = note->extra == nullptr ? "" : note->extra;
      PQfreemem(note);
      Dispatch(queue);
    }
  }
  MutexLock lock(&mu_);
  listening_ = false;
}

}  // namespace popqueue::store::postgres
