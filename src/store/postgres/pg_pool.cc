#include "store/postgres/pg_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace popqueue::store::postgres {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);

// True when the connection is still usable. Reads whatever the server sent
// while it sat idle (a shutdown notice, EOF) without blocking: libpq keeps
// its sockets non-blocking.
bool Healthy(PGconn* conn) {
  if (PQstatus(conn) != CONNECTION_OK) return false;
  // Twice: a server that shut down sent an error and then closed; one read
  // may take the error and stop short of the end of the stream.
  if (PQconsumeInput(conn) == 0 || PQconsumeInput(conn) == 0)
    return false;  // NOLINT(misc-redundant-expression)
  while (PGnotify* n = PQnotifies(conn)) PQfreemem(n);
  return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

}  // namespace

Pool::Pool(ConnSettings settings, int max_size)
    : settings_(std::move(settings)), max_size_(max_size < 1 ? 1 : max_size) {}

Pool::~Pool() {
  MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<Pool::Lease> Pool::Acquire() {
  mu_.Lock();
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<Session> s = std::move(idle_.back());
      idle_.pop_back();
      if (Healthy(s->conn.get())) {
        mu_.Unlock();
        return Lease(this, std::move(s));
      }
      --open_;  // closed by the server while idle
    }
    if (open_ < max_size_) break;
    mu_.Await(absl::Condition(
        +[](Pool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return !p->idle_.empty() || p->open_ < p->max_size_;
        },
        this));
  }
  absl::Time now = absl::Now();
  if (now < next_connect_) {
    std::string msg =
        absl::StrCat("PostgreSQL at ", settings_.where, " is unavailable: ", last_error_,
                     "; next reconnect attempt in ", absl::FormatDuration(next_connect_ - now));
    mu_.Unlock();
    return absl::UnavailableError(msg);
  }
  ++open_;
  mu_.Unlock();

  absl::StatusOr<ConnPtr> conn = Connect(settings_);

  MutexLock lock(&mu_);
  if (!conn.ok()) {
    --open_;
    backoff_ =
        backoff_ == absl::ZeroDuration() ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
    next_connect_ = absl::Now() + backoff_;
    if (last_error_.empty()) {
      Logf(LogLevel::kWarn, "postgres: %s", std::string(conn.status().message()));
    }
    last_error_ = std::string(conn.status().message());
    if (absl::IsUnavailable(conn.status())) {
      return absl::UnavailableError(
          absl::StrCat(last_error_, "; retrying with backoff on the next call"));
    }
    return conn.status();
  }
  if (!last_error_.empty()) {
    Logf(LogLevel::kInfo, "postgres: reconnected to %s", settings_.where);
  }
  backoff_ = absl::ZeroDuration();
  next_connect_ = absl::InfinitePast();
  last_error_.clear();
  auto session = std::make_unique<Session>();
  session->conn = *std::move(conn);
  return Lease(this, std::move(session));
}

void Pool::Release(std::unique_ptr<Session> session, bool broken) {
  std::vector<std::unique_ptr<Session>> dropped;  // closed outside the lock
  MutexLock lock(&mu_);
  if (broken) {
    // The server (or the network) went away: the idle connections are most
    // likely dead too.
    dropped = std::move(idle_);
    idle_.clear();
    open_ -= static_cast<int>(dropped.size()) + 1;
    dropped.push_back(std::move(session));
    return;
  }
  idle_.push_back(std::move(session));
}

Pool::Lease::Lease(Pool* pool, std::unique_ptr<Session> session)
    : pool_(pool), session_(std::move(session)), query_timeout_(pool->settings().query_timeout) {}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      session_(std::move(other.session_)),
      query_timeout_(other.query_timeout_),
      broken_(other.broken_) {}

Pool::Lease::~Lease() {
  if (session_ == nullptr) return;
  PGconn* c = session_->conn.get();
  if (!broken_ && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
    (void)ExecSimple("ROLLBACK", "roll back");
  }
  bool broken = broken_ || PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE;
  pool_->Release(std::move(session_), broken);
}

absl::Status Pool::Lease::Lost() const {
  return absl::UnavailableError(
      absl::StrCat("PostgreSQL at ", pool_->where(), " is unavailable: connection lost"));
}

absl::StatusOr<Result> Pool::Lease::Run(const SendFn& send, std::string_view what) {
  absl::StatusOr<Result> res = ExecWithin(conn(), send, query_timeout_, pool_->where(), what);
  if (!res.ok()) {  // no answer in time: the connection's state is unknown
    broken_ = true;
    return res.status();
  }
  return Check(*std::move(res), what);
}

absl::StatusOr<Result> Pool::Lease::Check(Result res, std::string_view what) {
  absl::Status s = ResultStatus(res.get(), conn(), pool_->where(), what);
  if (s.ok()) return res;
  if (absl::IsUnavailable(s) || ConnectionLost(conn())) broken_ = true;
  return s;
}

absl::StatusOr<Result> Pool::Lease::Exec(std::string_view name, const std::string& sql,
                                         const Params& params, std::string_view what) {
  if (broken_) return Lost();
  std::string stmt(name);
  if (!session_->prepared.contains(name)) {
    absl::StatusOr<Result> prep = Run(
        [&](PGconn* c) { return PQsendPrepare(c, stmt.c_str(), sql.c_str(), 0, nullptr); }, what);
    if (!prep.ok()) return prep.status();
    session_->prepared.insert(stmt);
  }
  std::vector<const char*> values = params.Pointers();
  return Run(
      [&](PGconn* c) {
        return PQsendQueryPrepared(c, stmt.c_str(), params.size(), values.data(), nullptr, nullptr,
                                   0);
      },
      what);
}

absl::StatusOr<Result> Pool::Lease::ExecUnprepared(const std::string& sql, const Params& params,
                                                   std::string_view what) {
  if (broken_) return Lost();
  // The session forces generic plans (pg_conn.cc), which would apply to this
  // unnamed statement too: planned for its values, inside one transaction
  // whose SET LOCAL ends with it, whatever happens.
  absl::Status begin = ExecSimple("BEGIN; SET LOCAL plan_cache_mode = force_custom_plan", what);
  if (!begin.ok()) return begin;
  std::vector<const char*> values = params.Pointers();
  absl::StatusOr<Result> res = Run(
      [&](PGconn* c) {
        return PQsendQueryParams(c, sql.c_str(), params.size(), nullptr, values.data(), nullptr,
                                 nullptr, 0);
      },
      what);
  absl::Status end = ExecSimple(res.ok() ? "COMMIT" : "ROLLBACK", what);
  if (!res.ok()) return res.status();
  if (!end.ok()) return end;
  return res;
}

absl::Status Pool::Lease::ExecSimple(const std::string& sql, std::string_view what) {
  if (broken_) return Lost();
  return Run([&](PGconn* c) { return PQsendQuery(c, sql.c_str()); }, what).status();
}

}  // namespace popqueue::store::postgres
