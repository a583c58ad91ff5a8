// A small pool of PostgreSQL connections with reconnect and backoff.
//
// Connections are opened lazily up to `max_size`. Before a pooled connection
// is handed out it is checked without blocking (PQconsumeInput), so one that
// the server closed (restart, idle timeout) is replaced instead of failing the
// call. When a call loses its connection it returns kUnavailable naming
// host:port/db (never the password) and every idle connection is dropped;
// the next call reconnects. Failed connects back off (100 ms doubling to
// 2 s): calls inside the backoff window fail fast with kUnavailable.
// Every round trip is bounded by the settings' query_timeout (pg_exec.h);
// a connection whose call ran out of time is closed, not reused.
//
// Thread-safe. Leases must not outlive the pool.
#ifndef POPQUEUE_STORE_POSTGRES_PG_POOL_H_
#define POPQUEUE_STORE_POSTGRES_PG_POOL_H_

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_exec.h"

namespace popqueue::store::postgres {

class Pool {
 public:
  // One open connection and the statements prepared on it.
  struct Session {
    ConnPtr conn;
    std::set<std::string, std::less<>> prepared;
  };

  // Exclusive use of one connection until destroyed. A lease whose
  // connection broke, or that is left inside a transaction that cannot be
  // rolled back, closes it instead of returning it.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Session> session);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    PGconn* conn() const { return session_->conn.get(); }

    // Runs statement `name` (text `sql`), preparing it on first use on this
    // connection. `what` names the operation in error messages.
    absl::StatusOr<Result> Exec(std::string_view name, const std::string& sql, const Params& params,
                                std::string_view what);
    // Runs `sql` unprepared (planned for these values).
    absl::StatusOr<Result> ExecUnprepared(const std::string& sql, const Params& params,
                                          std::string_view what);
    // Runs parameterless, possibly multi-statement text (BEGIN, migrations).
    absl::Status ExecSimple(const std::string& sql, std::string_view what);

    // Bounds this lease's round trips by `timeout` instead of the settings'
    // query_timeout (InfiniteDuration: no limit).
    void set_query_timeout(absl::Duration timeout) { query_timeout_ = timeout; }
    absl::Duration query_timeout() const { return query_timeout_; }

   private:
    absl::StatusOr<Result> Run(const SendFn& send, std::string_view what);
    absl::StatusOr<Result> Check(Result res, std::string_view what);
    absl::Status Lost() const;

    Pool* pool_;
    std::unique_ptr<Session> session_;
    absl::Duration query_timeout_;
    bool broken_ = false;
  };

  Pool(ConnSettings settings, int max_size);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A healthy connection: idle, or newly opened. kUnavailable when the
  // server cannot be reached (or within the backoff after a failed connect).
  absl::StatusOr<Lease> Acquire();

  const std::string& where() const { return settings_.where; }
  const ConnSettings& settings() const { return settings_; }

 private:
  void Release(std::unique_ptr<Session> session, bool broken);

  const ConnSettings settings_;
  const int max_size_;

  Mutex mu_;
  std::vector<std::unique_ptr<Session>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + connecting
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_PG_POOL_H_
