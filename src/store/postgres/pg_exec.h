// Client-side deadlines for libpq round trips.
//
// libpq's PQexec* wait for the server's answer without limit. Keepalives and
// tcp_user_timeout end that wait when the server's host is gone, and
// statement_timeout when the server is alive but slow; neither helps when
// the server process hangs while its host keeps acknowledging TCP (a stopped
// or wedged backend, a proxy whose backend is gone). So the store sends each
// command with the asynchronous API on a non-blocking connection (Connect()
// makes every connection non-blocking) and polls the socket until a deadline.
// On expiry it asks the server to cancel the command and the caller closes
// the connection: its protocol state is unknown.
#ifndef POPQUEUE_STORE_POSTGRES_PG_EXEC_H_
#define POPQUEUE_STORE_POSTGRES_PG_EXEC_H_

#include <functional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/postgres/pg_conn.h"

namespace popqueue::store::postgres {

// Starts one command on `conn` (PQsendQueryPrepared, PQsendPrepare, ...);
// returns libpq's 1 (sent) or 0 (failed).
using SendFn = std::function<int(PGconn* conn)>;

// Runs `send` and waits at most `timeout` (InfiniteDuration: no limit) for
// every result of the command. Returns the last result, or the first error
// result of a multi-statement text; nullptr when the connection failed
// (ResultStatus then reads the error from `conn`). Fails with
// kDeadlineExceeded, naming `where`, `what` and the query_timeout option,
// when the server has not answered in time: a cancel request has then been
// sent (in the background) and the caller must close `conn`.
absl::StatusOr<Result> ExecWithin(PGconn* conn, const SendFn& send, absl::Duration timeout,
                                  std::string_view where, std::string_view what);

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_PG_EXEC_H_
