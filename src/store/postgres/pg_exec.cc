#include "store/postgres/pg_exec.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/thread.h"

namespace popqueue::store::postgres {
namespace {

enum class Wait { kReady, kTimedOut, kFailed };

// Waits until the socket of `conn` is ready for `events` or `deadline`.
Wait WaitSocket(PGconn* conn, short events, absl::Time deadline) {
  int fd = PQsocket(conn);
  if (fd < 0) return Wait::kFailed;
  while (true) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return Wait::kTimedOut;
      // Rounded up, or a wait of 0.4 ms would spin until the deadline.
      timeout_ms =
          static_cast<int>(std::min<double>(std::ceil(absl::ToDoubleMilliseconds(left)), 1e9));
    }
    pollfd p = {fd, events, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n > 0) return Wait::kReady;  // POLLERR/POLLHUP too: libpq reports it
    if (n < 0 && errno != EINTR) return Wait::kFailed;
  }
}

// Asks the server to cancel the running command. PQcancel opens a
// connection of its own and waits for the server to close it, which a hung
// server may never do: it runs on a detached thread that owns the request.
void CancelInBackground(PGconn* conn) {
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) return;
  StartThread([cancel] {
    char err[256];
    if (PQcancel(cancel, err, sizeof(err)) == 0) {
      Logf(LogLevel::kDebug, "postgres: cancel request failed: %s", std::string(err));
    }
    PQfreeCancel(cancel);
  }).detach();
}

absl::Status TimedOut(PGconn* conn, absl::Duration timeout, std::string_view where,
                      std::string_view what) {
  CancelInBackground(conn);
  return absl::DeadlineExceededError(absl::StrCat(
      "PostgreSQL at ", absl::string_view(where.data(), where.size()), " did not answer within ",
      absl::FormatDuration(timeout), " (", absl::string_view(what.data(), what.size()),
      "); sent a cancel and closed the connection. The client-side limit is "
      "?query_timeout=<ms> in the PostgreSQL URL (default: statement_timeout "
      "+ 5000 ms; 0 = no limit)"));
}

}  // namespace

absl::StatusOr<Result> ExecWithin(PGconn* conn, const SendFn& send, absl::Duration timeout,
                                  std::string_view where, std::string_view what) {
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  if (send(conn) == 0) return Result(nullptr);
  // Waits for `events` and takes in what arrived. A value ends the call: the
  // timeout, or a null result when libpq failed (its message says why).
  auto wait_and_read = [&](short events) -> std::optional<absl::StatusOr<Result>> {
    switch (WaitSocket(conn, events, deadline)) {
      case Wait::kTimedOut: return TimedOut(conn, timeout, where, what);
      case Wait::kFailed: return Result(nullptr);
      case Wait::kReady: break;
    }
    if (PQconsumeInput(conn) == 0) return Result(nullptr);
    return std::nullopt;
  };
  // A large command may not fit the socket buffer: flush it as the server
  // reads, taking in what it sends meanwhile (libpq's documented loop).
  while (true) {
    int f = PQflush(conn);
    if (f < 0) return Result(nullptr);
    if (f == 0) break;
    if (auto end = wait_and_read(POLLIN | POLLOUT)) return std::move(*end);
  }
  Result last;
  while (true) {
    while (PQisBusy(conn) != 0) {
      if (auto end = wait_and_read(POLLIN)) return std::move(*end);
    }
    Result r(PQgetResult(conn));  // does not block: the input is complete
    if (r == nullptr) return last;
    // Like PQexec: the last result, but a multi-statement text stops at its
    // first error, which is the one to report.
    if (last == nullptr || PQresultStatus(last.get()) != PGRES_FATAL_ERROR) {
      last = std::move(r);
    }
  }
}

}  // namespace popqueue::store::postgres
