#include "store/postgres/pg_conn.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace popqueue::store::postgres {
namespace {

// libpq messages span lines ("...failed: Connection refused\n\tIs the
// server running..."): one line reads better in a Status.
std::string Trimmed(const char* message) {
  std::string out;
  if (message == nullptr) return out;
  bool space = false;
  for (const char* p = message; *p != '\0'; ++p) {
    if (absl::ascii_isspace(static_cast<unsigned char>(*p))) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(*p);
  }
  return out;
}

// Server notices (e.g. "relation already exists, skipping") go to the debug
// log instead of stderr.
void LogNotice(void* /*arg*/, const char* message) {
  Logf(LogLevel::kDebug, "postgres: %s", Trimmed(message));
}

// Defaults for the timeout keywords of libpq, each overridable by the same
// name in the URL (?keepalives_idle=60). tcp_user_timeout is in ms.
constexpr std::pair<const char*, const char*> kTimeoutDefaults[] = {
    {"connect_timeout", "5"},      {"keepalives", "1"},       {"keepalives_idle", "30"},
    {"keepalives_interval", "10"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"},
};
constexpr int64_t kDefaultStatementTimeoutMs = 60000;
// The client waits this much longer than statement_timeout, so that a slow
// statement ends with the server's error (and the connection survives)
// rather than with the client's deadline.
constexpr int64_t kQueryTimeoutMarginMs = 5000;
// The client bound when the server has none (statement_timeout=0): long
// enough for any statement of the store on a large table.
constexpr int64_t kQueryTimeoutWithoutStatementTimeoutMs = 300000;
constexpr int64_t kMaxTimeoutMs = 2147483647;  // PostgreSQL's int limit

bool HasKey(const ConnSettings& s, absl::string_view key) {
  for (const auto& [k, v] : s.params) {
    if (k == key) return true;
  }
  return false;
}

// Appends `c` to an array literal element, escaped for double quotes.
void AppendQuoted(std::string* out, const std::string& value) {
  out->push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

absl::StatusOr<ConnSettings> SettingsFromUrl(const Url& url, const std::string& db_name) {
  if (url.scheme != "postgres" && url.scheme != "postgresql") {
    return absl::InvalidArgumentError(
        absl::StrCat("not a PostgreSQL URL: \"", url.Redacted(),
                     "\"; expected postgres://user:pass@host:port/db"));
  }
  ConnSettings s;
  std::string host = url.host.empty() ? "localhost" : url.host;
  int port = url.port == 0 ? 5432 : url.port;
  std::string db = url.path;
  while (!db.empty() && db.front() == '/') db.erase(0, 1);
  if (db.empty()) db = db_name;
  if (db.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no database in \"", url.Redacted(),
                     "\": give it as the URL path (postgres://host:port/db) or as dbName"));
  }
  if (db.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid database name \"", db, "\" in \"", url.Redacted(), "\""));
  }
  s.params = {{"host", host}, {"port", absl::StrCat(port)}, {"dbname", db}};
  if (!url.user.empty()) s.params.emplace_back("user", url.user);
  if (!url.password.empty()) s.params.emplace_back("password", url.password);
  int64_t statement_timeout_ms = kDefaultStatementTimeoutMs;
  std::optional<int64_t> query_timeout_ms;
  for (const auto& [k, v] : url.query) {
    if (k == "host" || k == "port" || k == "dbname" || k == "user" || k == "password") {
      return absl::InvalidArgumentError(absl::StrCat("\"", k,
                                                     "\" must be given in the URL itself, not as ?",
                                                     k, "= in \"", url.Redacted(), "\""));
    }
    // Not libpq keywords: a server setting and a limit of the client.
    if (k == "statement_timeout" || k == "query_timeout") {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(v, &ms) || ms < 0 || ms > kMaxTimeoutMs) {
        return absl::InvalidArgumentError(absl::StrCat(k, "=\"", v, "\" in \"", url.Redacted(),
                                                       "\" must be milliseconds (0 = no limit)"));
      }
      if (k == "statement_timeout") {
        statement_timeout_ms = ms;
      } else {
        query_timeout_ms = ms;
      }
      continue;
    }
    s.params.emplace_back(k, v);
  }
  // Nothing may wait forever on a server that stopped answering: connects
  // are bounded by connect_timeout; a dead peer or a partition on an open
  // connection (including the idle LISTEN one, which sends nothing) is found
  // by keepalives within idle + interval * count; data the peer never
  // acknowledges fails the call after tcp_user_timeout.
  for (const auto& [k, v] : kTimeoutDefaults) {
    if (!HasKey(s, k)) s.params.emplace_back(k, v);
  }
  if (!HasKey(s, "application_name")) {
    s.params.emplace_back("application_name", "popqueue");
  }
  s.params.emplace_back("client_encoding", "UTF8");
  std::string* options = nullptr;  // server settings, "-c name=value ..."
  for (auto& [k, v] : s.params) {
    if (k == "options") options = &v;
  }
  if (options == nullptr) {
    s.params.emplace_back("options", "");
    options = &s.params.back().second;
  }
  if (!options->empty()) options->push_back(' ');
  // The claim must walk the claim index in order and stop after `limit`
  // rows. With stale statistics (a table analyzed while it had no available
  // jobs) the planner prefers a bitmap scan that reads and sorts every due
  // job instead: measured 250 ms instead of 2 ms per claim with 37k due
  // jobs. No statement of the store gains from bitmap scans.
  absl::StrAppend(options, "-c enable_bitmapscan=off");
  // Prepared statements keep one generic plan. Left to choose (auto), the
  // server re-plans the claim and the insert on every call whenever their
  // custom plans look cheaper than the generic one, which depends on the
  // table's statistics: measured 0.57 ms of planning per claim and 0.36 ms
  // per insert on a new database, half of a job's latency from Enqueue to
  // its handler (W4 p50 2.3 ms, 1.1 ms with generic plans). Every prepared
  // statement of the store walks an index the same way whatever its values.
  // The job listing, which wants plans for its values, runs unprepared with
  // custom plans (Pool::Lease::ExecUnprepared). ?options=-c
  // plan_cache_mode=... wins.
  if (!absl::StrContains(*options, "plan_cache_mode")) {
    absl::StrAppend(options, " -c plan_cache_mode=force_generic_plan");
  }
  // statement_timeout bounds each statement on the server, so that a lock
  // wait or a runaway query cannot hold a connection (and its caller) for
  // ever; Migrate() lifts it for its own session. One given in
  // ?options=-c statement_timeout=... wins.
  if (!absl::StrContains(*options, "statement_timeout")) {
    absl::StrAppend(options, " -c statement_timeout=", statement_timeout_ms);
  }
  // query_timeout bounds each call on the client, for a server that hangs
  // and so cannot enforce statement_timeout (pg_exec.h).
  if (!query_timeout_ms) {
    query_timeout_ms = statement_timeout_ms > 0 ? statement_timeout_ms + kQueryTimeoutMarginMs
                                                : kQueryTimeoutWithoutStatementTimeoutMs;
  }
  s.query_timeout =
      *query_timeout_ms == 0 ? absl::InfiniteDuration() : absl::Milliseconds(*query_timeout_ms);
  s.where = absl::StrCat(host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host,
                         ":", port, "/", db);
  return s;
}

absl::StatusOr<ConnPtr> Connect(const ConnSettings& settings) {
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : settings.params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  ConnPtr conn(PQconnectdbParams(keys.data(), values.data(), 0));
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("libpq could not allocate a connection");
  }
  if (PQstatus(conn.get()) == CONNECTION_OK) {
    PQsetNoticeProcessor(conn.get(), LogNotice, nullptr);
    // Sends must not block on a server that stopped reading (ExecWithin).
    if (PQsetnonblocking(conn.get(), 1) != 0) {
      return absl::InternalError(
          absl::StrCat("cannot make the connection to PostgreSQL at ", settings.where,
                       " non-blocking: ", Trimmed(PQerrorMessage(conn.get()))));
    }
    return conn;
  }
  std::string why = Trimmed(PQerrorMessage(conn.get()));
  std::string msg = absl::StrCat("cannot connect to PostgreSQL at ", settings.where, ": ", why);
  if (absl::StrContains(why, "invalid connection option") ||
      (absl::StrContains(why, "invalid ") && absl::StrContains(why, " value"))) {
    return absl::InvalidArgumentError(msg);
  }
  if (absl::StrContains(why, "authentication failed") ||
      absl::StrContains(why, "no password supplied") ||
      absl::StrContains(why, "no pg_hba.conf entry")) {
    return absl::PermissionDeniedError(msg);
  }
  if (absl::StrContains(why, "does not exist")) {
    return absl::FailedPreconditionError(msg);
  }
  return absl::UnavailableError(msg);
}

Params& Params::Add(std::string value) {
  values_.emplace_back(std::move(value));
  return *this;
}
Params& Params::Add(int64_t value) {
  values_.emplace_back(absl::StrCat(value));
  return *this;
}
Params& Params::Add(bool value) {
  values_.emplace_back(value ? "true" : "false");
  return *this;
}
Params& Params::Add(absl::Time t) { return Add(Micros(t)); }
Params& Params::AddNull() {
  values_.emplace_back(std::nullopt);
  return *this;
}

std::vector<const char*> Params::Pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
  return out;
}

std::string BigintArray(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, values[i]);
  }
  out.push_back('}');
  return out;
}

std::string TextArray(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (values[i]) {
      AppendQuoted(&out, *values[i]);
    } else {
      out += "NULL";
    }
  }
  out.push_back('}');
  return out;
}

std::string ValidUtf8(std::string_view text) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && c != 0 && i + len <= text.size();
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    ok = ok && !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
         !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      i += 1;
    }
  }
  return out;
}

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

bool ConnectionLost(PGconn* conn) { return conn == nullptr || PQstatus(conn) != CONNECTION_OK; }

std::string ErrorConstraint(const PGresult* res) {
  const char* c = res == nullptr ? nullptr : PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
  return c == nullptr ? "" : c;
}

absl::Status ResultStatus(const PGresult* res, PGconn* conn, std::string_view where,
                          std::string_view what) {
  ExecStatusType st = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
  const char* state_c = res == nullptr ? nullptr : PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string state = state_c == nullptr ? "" : state_c;
  const char* primary = res == nullptr ? nullptr : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  std::string message = primary != nullptr ? std::string(primary) : Trimmed(PQerrorMessage(conn));
  if (message.empty()) message = "no response from the server";
  absl::string_view w(where.data(), where.size());
  absl::string_view op(what.data(), what.size());

  if ((state.empty() && ConnectionLost(conn)) || absl::StartsWith(state, "08") ||
      absl::StartsWith(state, "57P") || state == "53300") {
    return absl::UnavailableError(absl::StrCat("PostgreSQL at ", w, " is unavailable (", op, "): ",
                                               message, "; the store reconnects on the next call"));
  }
  std::string detail =
      absl::StrCat("PostgreSQL error while trying to ", op,
                   state.empty() ? "" : absl::StrCat(" (SQLSTATE ", state, ")"), ": ", message);
  if (state == "23505") {
    std::string constraint = ErrorConstraint(res);
    if (absl::EndsWith(constraint, "_pkey")) {
      return absl::AlreadyExistsError(detail);
    }
    return absl::FailedPreconditionError(detail);
  }
  if (state == "40001" || state == "40P01") return absl::AbortedError(detail);
  if (state == "42P01" || state == "42883") {
    return absl::FailedPreconditionError(
        absl::StrCat(detail,
                     "; is the schema migrated? (popqueue migrate, or open the "
                     "queue once)"));
  }
  if (absl::StartsWith(state, "22") || absl::StartsWith(state, "23")) {
    return absl::InvalidArgumentError(detail);
  }
  if (state == "57014") {
    if (absl::StrContains(message, "statement timeout")) {
      absl::StrAppend(&detail,
                      "; raise ?statement_timeout=<ms> in the "
                      "PostgreSQL URL (0 = no limit)");
    }
    return absl::DeadlineExceededError(detail);
  }
  if (state == "53200" || state == "53100") {
    return absl::ResourceExhaustedError(detail);
  }
  return absl::InternalError(detail);
}

Result ExecParams(PGconn* conn, const std::string& sql, const Params& params) {
  std::vector<const char*> values = params.Pointers();
  return Result(
      PQexecParams(conn, sql.c_str(), params.size(), nullptr, values.data(), nullptr, nullptr, 0));
}

bool IsNull(const PGresult* res, int row, int col) { return PQgetisnull(res, row, col) != 0; }

std::string_view Text(const PGresult* res, int row, int col) {
  return std::string_view(PQgetvalue(res, row, col),
                          static_cast<size_t>(PQgetlength(res, row, col)));
}

int64_t Int(const PGresult* res, int row, int col) {
  if (IsNull(res, row, col)) return 0;
  int64_t v = 0;
  (void)absl::SimpleAtoi(absl::string_view(PQgetvalue(res, row, col)), &v);
  return v;
}

bool Bool(const PGresult* res, int row, int col) {
  return !IsNull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

}  // namespace popqueue::store::postgres
