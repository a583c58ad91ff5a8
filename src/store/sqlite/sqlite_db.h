// Thin RAII layer over the SQLite C API for the SQLite store: a connection
// with a cache of prepared statements, a borrowed statement that binds by
// parameter name, a write transaction guard, and the mapping of SQLite result
// codes to absl::Status.
//
// Thread-safety: none. A Conn (and every Stmt borrowed from it) is used by one
// thread at a time; SqliteStore enforces that with its mutexes.
#ifndef POPQUEUE_STORE_SQLITE_SQLITE_DB_H_
#define POPQUEUE_STORE_SQLITE_SQLITE_DB_H_

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popqueue::store::sqlite {

// Rendered SQL texts by name ("job_claim_one.sql", ...), shared read-only by
// every connection of one store.
using QueryMap = std::map<std::string, std::string, std::less<>>;

struct ConnOptions {
  std::string path;         // file path or ":memory:"
  std::string synchronous;  // "NORMAL", "FULL" or "EXTRA"
  int busy_timeout_ms = 5000;
};

// Net changes of the job counts on one connection: per queue, per state in
// kAllJobStates order.
using CountDeltas = std::map<std::string, std::array<int64_t, 7>, std::less<>>;

class Conn;

// A cached prepared statement borrowed from a Conn. Binding an unknown
// parameter name is a programming error and aborts. The statement is reset
// (bindings cleared) when the Stmt is destroyed or Reset().
class Stmt {
 public:
  Stmt(Conn* conn, sqlite3_stmt* stmt, std::string_view name)
      : conn_(conn), stmt_(stmt), name_(name) {}
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(const char* param, int64_t value);
  Stmt& Bind(const char* param, int value) { return Bind(param, static_cast<int64_t>(value)); }
  Stmt& Bind(const char* param, std::string_view value);
  Stmt& Bind(const char* param, const std::string& value) {
    return Bind(param, std::string_view(value));
  }
  Stmt& Bind(const char* param, const char* value) { return Bind(param, std::string_view(value)); }
  Stmt& Bind(const char* param, absl::Time value);  // microseconds
  Stmt& BindNull(const char* param);

  // Advances: true when a row is ready, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, ignoring rows.
  absl::Status Run();
  // Ready for new bindings and a new run.
  void Reset();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  std::string Text(int col) const;
  absl::Time Time(int col) const;  // microseconds
  std::optional<absl::Time> OptTime(int col) const;

 private:
  int Index(const char* param) const;

  Conn* conn_;
  sqlite3_stmt* stmt_;
  std::string_view name_;
};

class Conn {
 public:
  // Opens (creating the file if needed) and configures a connection: WAL,
  // synchronous, busy timeout, extended result codes.
  static absl::StatusOr<std::unique_ptr<Conn>> Open(const ConnOptions& options,
                                                    const QueryMap* queries);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // The cached statement for a query of the QueryMap.
  absl::StatusOr<Stmt> Prepare(std::string_view name);
  // Runs a script of statements without parameters (migrations).
  absl::Status Exec(const std::string& sql, std::string_view what);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  bool InTransaction() const { return !sqlite3_get_autocommit(db_); }

  // The absl::Status for SQLite result `rc` while doing `what`.
  absl::Status Error(int rc, std::string_view what) const;

  // From now on, gathers the net change of the (queue, state) counts of
  // every row of `table` that this connection inserts, updates or deletes,
  // from SQLite's pre-update hook (columns `queue_col` and `state_col`): no
  // statement writes anything for it, and every statement of every caller
  // is covered. TakeCountDeltas returns and clears them (the writer applies
  // them to the counts table just before COMMIT, and drops them on
  // rollback).
  void TrackCounts(std::string table, int queue_col, int state_col);
  CountDeltas TakeCountDeltas() { return std::exchange(deltas_, {}); }

 private:
  Conn(sqlite3* db, ConnOptions options, const QueryMap* queries)
      : db_(db), options_(std::move(options)), queries_(queries) {}

  static void OnPreUpdate(void* self, sqlite3* db, int op, const char* db_name, const char* table,
                          sqlite3_int64, sqlite3_int64);

  sqlite3* db_;
  ConnOptions options_;
  const QueryMap* queries_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
  std::string tracked_table_;
  int queue_col_ = -1;
  int state_col_ = -1;
  CountDeltas deltas_;
};

// BEGIN IMMEDIATE on construction (Begin()), ROLLBACK on destruction unless
// Commit() succeeded.
class WriteTx {
 public:
  explicit WriteTx(Conn& conn) : conn_(conn) {}
  ~WriteTx();
  absl::Status Begin();
  absl::Status Commit();

 private:
  Conn& conn_;
  bool open_ = false;
};

}  // namespace popqueue::store::sqlite

#endif  // POPQUEUE_STORE_SQLITE_SQLITE_DB_H_
