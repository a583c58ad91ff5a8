#include "store/sqlite/sqlite_db.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string_view>
#include <utility>

#include "absl/strings/str_format.h"
#include "popqueue/job.h"

namespace popqueue::store::sqlite {
namespace {

// A broken invariant of this file's callers (a typo in a parameter name, a
// query missing from the QueryMap): crash loudly with the reason.
[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "popqueue sqlite store: %s\n", message.c_str());
  std::abort();
}

}  // namespace

// --- Stmt -------------------------------------------------------------------

Stmt::Stmt(Stmt&& other) noexcept : conn_(other.conn_), stmt_(other.stmt_), name_(other.name_) {
  other.stmt_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ != nullptr) Reset();
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Stmt::Index(const char* param) const {
  int index = sqlite3_bind_parameter_index(stmt_, param);
  if (index == 0) {
    Fatal(absl::StrFormat("query %s has no parameter %s", name_, param));
  }
  return index;
}

Stmt& Stmt::Bind(const char* param, int64_t value) {
  sqlite3_bind_int64(stmt_, Index(param), value);
  return *this;
}

Stmt& Stmt::Bind(const char* param, std::string_view value) {
  // Explicit length: embedded NULs and arbitrary bytes are stored verbatim.
  // SQLITE_TRANSIENT copies; the caller's buffer may die before Step().
  sqlite3_bind_text64(stmt_, Index(param), value.data(), value.size(), SQLITE_TRANSIENT,
                      SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::Bind(const char* param, absl::Time value) {
  return Bind(param, absl::ToUnixMicros(value));
}

Stmt& Stmt::BindNull(const char* param) {
  sqlite3_bind_null(stmt_, Index(param));
  return *this;
}

absl::StatusOr<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return conn_->Error(rc, name_);
}

absl::Status Stmt::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::Text(int col) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (text == nullptr) return std::string();
  return std::string(text, sqlite3_column_bytes(stmt_, col));
}

absl::Time Stmt::Time(int col) const { return absl::FromUnixMicros(Int(col)); }

std::optional<absl::Time> Stmt::OptTime(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Time(col);
}

// --- Conn -------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Conn>> Conn::Open(const ConnOptions& options,
                                                 const QueryMap* queries) {
  sqlite3* db = nullptr;
  // NOMUTEX: each connection is confined to one thread at a time by the
  // store's own locks, so SQLite's per-connection mutex is redundant.
  int rc =
      sqlite3_open_v2(options.path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Conn> conn(new Conn(db, options, queries));
  if (db == nullptr) {
    return absl::ResourceExhaustedError("sqlite3_open_v2: out of memory");
  }
  if (rc != SQLITE_OK) return conn->Error(rc, "open");
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  // journal_mode=WAL is persistent in the file; asking again is cheap. An
  // in-memory database reports "memory", which is fine.
  const std::string pragmas =
      absl::StrFormat("PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", options.synchronous);
  if (absl::Status s = conn->Exec(pragmas, "configure connection"); !s.ok()) {
    return s;
  }
  return conn;
}

Conn::~Conn() {
  for (auto& [name, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

absl::StatusOr<Stmt> Conn::Prepare(std::string_view name) {
  auto it = cache_.find(name);
  if (it == cache_.end()) {
    auto sql = queries_->find(name);
    if (sql == queries_->end()) {
      Fatal(absl::StrFormat("unknown query %s", name));
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql->second.data(), static_cast<int>(sql->second.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error(rc, name);
    it = cache_.emplace(sql->first, stmt).first;
  }
  return Stmt(this, it->second, it->first);
}

absl::Status Conn::Exec(const std::string& sql, std::string_view what) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, what);
  return absl::OkStatus();
}

absl::Status Conn::Error(int rc, std::string_view what) const {
  const char* detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  const std::string& path = options_.path;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          absl::StrFormat("SQLite database \"%s\" stayed locked by another connection or "
                          "process for busy_timeout_ms=%d (%s: %s); try again",
                          path, options_.busy_timeout_ms, what, detail));
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(
          absl::StrFormat("cannot open SQLite database \"%s\": %s (does the directory exist "
                          "and is it writable?)",
                          path, detail));
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(
            absl::StrFormat("%s: job id already exists (%s)", what, detail));
      }
      return absl::InvalidArgumentError(absl::StrFormat("%s: constraint failed: %s", what, detail));
    case SQLITE_CORRUPT:
      return absl::DataLossError(
          absl::StrFormat("SQLite database \"%s\" is corrupt (%s: %s)", path, what, detail));
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(
          absl::StrFormat("\"%s\" is not an SQLite database (%s)", path, detail));
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(
          absl::StrFormat("SQLite database \"%s\": %s: %s", path, what, detail));
    case SQLITE_IOERR:
      return absl::UnavailableError(
          absl::StrFormat("SQLite database \"%s\": I/O error during %s: %s", path, what, detail));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(
          absl::StrFormat("SQLite database \"%s\": %s: %s", path, what, detail));
    case SQLITE_INTERRUPT: return absl::CancelledError(absl::StrFormat("%s: %s", what, detail));
    default:
      return absl::InternalError(
          absl::StrFormat("SQLite database \"%s\": %s: %s (code %d)", path, what, detail, rc));
  }
}

// --- WriteTx ----------------------------------------------------------------

// --- Kept counts ------------------------------------------------------------

void Conn::TrackCounts(std::string table, int queue_col, int state_col) {
  tracked_table_ = std::move(table);
  queue_col_ = queue_col;
  state_col_ = state_col;
  sqlite3_preupdate_hook(db_, &Conn::OnPreUpdate, this);
}

namespace {

// A row's (queue, state), read in place (valid during the hook's call).
struct CountCell {
  std::string_view queue;
  int state = -1;  // index into kAllJobStates; -1 for an unknown spelling
  bool operator==(const CountCell& o) const { return state == o.state && queue == o.queue; }
};

std::string_view ValueText(sqlite3_value* v) {
  const unsigned char* t = v ? sqlite3_value_text(v) : nullptr;
  if (t == nullptr) return {};
  return {reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_value_bytes(v))};
}

static_assert(std::size(kAllJobStates) == std::tuple_size_v<CountDeltas::mapped_type>);

int StateIndex(std::string_view name) {
  for (size_t i = 0; i < std::size(kAllJobStates); ++i) {
    if (JobStateName(kAllJobStates[i]) == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

void Conn::OnPreUpdate(void* self, sqlite3* db, int op, const char* db_name, const char* table,
                       sqlite3_int64, sqlite3_int64) {
  Conn* conn = static_cast<Conn*>(self);
  if (std::strcmp(db_name, "main") != 0 || conn->tracked_table_ != table) return;
  auto read = [&](int (*get)(sqlite3*, int, sqlite3_value**)) {
    sqlite3_value* queue = nullptr;
    sqlite3_value* state = nullptr;
    get(db, conn->queue_col_, &queue);
    get(db, conn->state_col_, &state);
    return CountCell{ValueText(queue), StateIndex(ValueText(state))};
  };
  auto add = [&](const CountCell& cell, int64_t n) {
    if (cell.state < 0) return;  // not a state (the CHECK refuses those)
    auto it = conn->deltas_.find(cell.queue);
    if (it == conn->deltas_.end()) {
      it = conn->deltas_.emplace(std::string(cell.queue), std::array<int64_t, 7>{}).first;
    }
    it->second[cell.state] += n;
  };
  if (op == SQLITE_INSERT) {
    add(read(sqlite3_preupdate_new), 1);
  } else if (op == SQLITE_DELETE) {
    add(read(sqlite3_preupdate_old), -1);
  } else if (op == SQLITE_UPDATE) {
    const CountCell before = read(sqlite3_preupdate_old);
    const CountCell after = read(sqlite3_preupdate_new);
    if (before == after) return;  // heartbeats, progress: no count changes
    add(before, -1);
    add(after, 1);
  }
}

absl::Status WriteTx::Begin() {
  absl::StatusOr<Stmt> begin = conn_.Prepare("begin_immediate");
  if (!begin.ok()) return begin.status();
  if (absl::Status s = begin->Run(); !s.ok()) return s;
  open_ = true;
  return absl::OkStatus();
}

absl::Status WriteTx::Commit() {
  absl::StatusOr<Stmt> commit = conn_.Prepare("commit");
  if (!commit.ok()) return commit.status();
  if (absl::Status s = commit->Run(); !s.ok()) return s;
  open_ = false;
  return absl::OkStatus();
}

WriteTx::~WriteTx() {
  // Some errors (SQLITE_FULL, SQLITE_IOERR) roll back on their own.
  if (!open_ || !conn_.InTransaction()) return;
  absl::StatusOr<Stmt> rollback = conn_.Prepare("rollback");
  if (rollback.ok()) (void)rollback->Run();
}

}  // namespace popqueue::store::sqlite
