// libpq plumbing shared by the PostgreSQL store, its listener and EnqueueTx:
// connection settings from a URL, owned results, text-format parameters and
// the translation of PostgreSQL errors into absl::Status.
#ifndef POPQUEUE_STORE_POSTGRES_PG_CONN_H_
#define POPQUEUE_STORE_POSTGRES_PG_CONN_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/url.h"

namespace popqueue::store::postgres {

// How to reach the server. `where` ("host:port/db") names it in messages;
// it never contains the password.
struct ConnSettings {
  std::vector<std::pair<std::string, std::string>> params;  // libpq keywords
  std::string where;
  // Client-side bound on each round trip (pg_exec.h); InfiniteDuration for
  // none.
  absl::Duration query_timeout = absl::Seconds(65);
};

// postgres://user:pass@host:port/db?sslmode=... ; without a path the database
// is `db_name`. Query parameters are passed to libpq as connection keywords
// (an unknown one fails Connect with kInvalidArgument), except
// statement_timeout=<ms>, sent as a server setting (0 = no limit), and
// query_timeout=<ms>, the client-side bound of each call (0 = no limit).
// Timeout defaults, each overridable by its name in the URL:
// connect_timeout=5 (s), keepalives=1, keepalives_idle=30 (s),
// keepalives_interval=10 (s), keepalives_count=3, tcp_user_timeout=30000
// (ms), statement_timeout=60000 (ms), query_timeout=statement_timeout + 5000
// (ms), or 300000 when statement_timeout=0.
absl::StatusOr<ConnSettings> SettingsFromUrl(const Url& url, const std::string& db_name);

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;

// Opens a connection (blocking, bounded by connect_timeout), in libpq's
// non-blocking mode for ExecWithin (pg_exec.h); PQexec still blocks.
// kUnavailable when the server cannot be reached, kInvalidArgument for bad
// connection options, kPermissionDenied / kUnauthenticated for refused logins.
absl::StatusOr<ConnPtr> Connect(const ConnSettings& settings);

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Text-format statement parameters. Arrays are PostgreSQL array literals.
class Params {
 public:
  Params& Add(std::string value);
  Params& Add(std::string_view value) { return Add(std::string(value)); }
  Params& Add(const char* value) { return Add(std::string(value)); }
  Params& Add(int64_t value);
  Params& Add(int value) { return Add(static_cast<int64_t>(value)); }
  Params& Add(bool value);
  Params& Add(absl::Time t);  // bigint microseconds since the Unix epoch
  Params& AddNull();
  template <typename T>
  Params& Add(const std::optional<T>& v) {
    return v ? Add(*v) : AddNull();
  }

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object; valid while it lives and is not modified.
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// Array literals: {1,2} and {"a","b\"c",NULL}.
std::string BigintArray(const std::vector<int64_t>& values);
std::string TextArray(const std::vector<std::optional<std::string>>& values);

// `text` with NUL bytes and invalid UTF-8 replaced by U+FFFD, for texts the
// store keeps but does not own (handler error messages and results).
std::string ValidUtf8(std::string_view text);

int64_t Micros(absl::Time t);
absl::Time FromMicros(int64_t us);

// True when `conn` is unusable (the server went away).
bool ConnectionLost(PGconn* conn);

// OK for PGRES_COMMAND_OK / PGRES_TUPLES_OK; otherwise the error translated:
//   08*, 57P*, 53300, connection lost   -> kUnavailable (names `where`)
//   23505 on the primary key            -> kAlreadyExists
//   23505 on another unique index       -> kFailedPrecondition
//   40001, 40P01                        -> kAborted (retry the transaction)
//   22*, 23*                            -> kInvalidArgument
//   42P01 (no such table)               -> kFailedPrecondition (not migrated)
//   anything else                       -> kInternal
// `what` names the operation ("claim jobs").
absl::Status ResultStatus(const PGresult* res, PGconn* conn, std::string_view where,
                          std::string_view what);

// The constraint named by a failed result ("" when none).
std::string ErrorConstraint(const PGresult* res);

// Runs `sql` unprepared with `params`, blocking (PQexecParams): for the
// caller's own connection (EnqueueTx), whose mode and limits are its owner's.
Result ExecParams(PGconn* conn, const std::string& sql, const Params& params);

// Field accessors for result rows (text format).
bool IsNull(const PGresult* res, int row, int col);
std::string_view Text(const PGresult* res, int row, int col);
int64_t Int(const PGresult* res, int row, int col);  // 0 when NULL
bool Bool(const PGresult* res, int row, int col);

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_PG_CONN_H_
