// Timeouts of the PostgreSQL store: no call may block for ever on a server
// that stopped answering. The black-hole tests need no PostgreSQL (the peer
// is a socket of the test) and never skip; the last ones check the server
// side of statement_timeout against the real server.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pg_test_env.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_listener.h"
#include "store/postgres/pg_pool.h"
#include "tests/support/black_hole.h"

namespace popqueue::store::postgres {
namespace {

using ::popqueue::testing::BlackHole;
using ::popqueue::testing::Timed;
using ::testing::HasSubstr;

std::map<std::string, std::string> ParamsOf(const std::string& url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<ConnSettings> s = SettingsFromUrl(*parsed, "db");
  EXPECT_TRUE(s.ok()) << s.status();
  std::map<std::string, std::string> out;
  if (s.ok()) out.insert(s->params.begin(), s->params.end());
  return out;
}

absl::Status OpenStatus(const std::string& url) {
  return popqueue::testing::OpenTestStore("timeouts", url).status();
}

TEST(PgTimeouts, DefaultsBoundEveryWait) {
  auto p = ParamsOf("postgres://u@127.0.0.1:5432/db");
  EXPECT_EQ(p["connect_timeout"], "5");
  EXPECT_EQ(p["keepalives"], "1");
  EXPECT_EQ(p["keepalives_idle"], "30");
  EXPECT_EQ(p["keepalives_interval"], "10");
  EXPECT_EQ(p["keepalives_count"], "3");
  EXPECT_EQ(p["tcp_user_timeout"], "30000");
  EXPECT_EQ(p["options"],
            "-c enable_bitmapscan=off -c plan_cache_mode=force_generic_plan "
            "-c statement_timeout=60000");
}

TEST(PgTimeouts, UrlOverridesEachDefault) {
  auto p = ParamsOf(
      "postgres://127.0.0.1/db?connect_timeout=2&keepalives_idle=5&"
      "keepalives_interval=1&keepalives_count=2&tcp_user_timeout=1500&"
      "statement_timeout=0");
  EXPECT_EQ(p["connect_timeout"], "2");
  EXPECT_EQ(p["keepalives_idle"], "5");
  EXPECT_EQ(p["keepalives_interval"], "1");
  EXPECT_EQ(p["keepalives_count"], "2");
  EXPECT_EQ(p["tcp_user_timeout"], "1500");
  EXPECT_EQ(p["options"],
            "-c enable_bitmapscan=off -c plan_cache_mode=force_generic_plan "
            "-c statement_timeout=0");
  EXPECT_EQ(p.count("statement_timeout"), 0u);  // not a libpq keyword

  // A statement_timeout given in ?options= wins over the default.
  p = ParamsOf("postgres://127.0.0.1/db?options=-c%20statement_timeout%3D5s");
  EXPECT_EQ(p["options"],
            "-c statement_timeout=5s -c enable_bitmapscan=off "
            "-c plan_cache_mode=force_generic_plan");

  // So does a plan_cache_mode given there.
  p = ParamsOf("postgres://127.0.0.1/db?options=-c%20plan_cache_mode%3Dauto");
  EXPECT_EQ(p["options"],
            "-c plan_cache_mode=auto -c enable_bitmapscan=off "
            "-c statement_timeout=60000");
}

// Prepared statements run their generic plan from the first call (the
// server's own choice re-planned the claim and the insert on every call on a
// new database: half of a job's latency); the unprepared job listing is
// planned for its values, and leaves the session as it was, also when it
// fails.
TEST(PgPlans, PreparedAreGenericUnpreparedAreCustom) {
  POPQUEUE_REQUIRE_POSTGRES();
  absl::StatusOr<Url> url = ParseUrl(popqueue::testing::PostgresUrl());
  ASSERT_TRUE(url.ok());
  absl::StatusOr<ConnSettings> s = SettingsFromUrl(*url, "postgres");
  ASSERT_TRUE(s.ok()) << s.status();
  Pool pool(*s, 1);
  absl::StatusOr<Pool::Lease> lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  const std::string stmt = "SELECT count(*) FROM pg_class WHERE relname = $1::text";
  for (int i = 0; i < 8; ++i) {
    Params p;
    p.Add(std::string("pg_class"));
    absl::StatusOr<Result> r = lease->Exec("plan_probe", stmt, p, "probe");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(std::string(PQgetvalue(r->get(), 0, 0)), "1");
  }
  Params none;
  absl::StatusOr<Result> plans = lease->ExecUnprepared(
      "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
      "WHERE name = 'plan_probe'",
      none, "plans");
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(PQntuples(plans->get()), 1);
  EXPECT_EQ(std::string(PQgetvalue(plans->get(), 0, 0)), "8");
  EXPECT_EQ(std::string(PQgetvalue(plans->get(), 0, 1)), "0");

  auto setting = [&](auto exec) {
    absl::StatusOr<Result> r = exec("SELECT current_setting('plan_cache_mode')");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::string(PQgetvalue(r->get(), 0, 0)) : "";
  };
  auto unprepared = [&](const std::string& sql) {
    return lease->ExecUnprepared(sql, none, "setting");
  };
  auto prepared = [&](const std::string& sql) {
    return lease->Exec("setting_probe", sql, none, "setting");
  };
  EXPECT_EQ(setting(unprepared), "force_custom_plan");
  EXPECT_EQ(setting(prepared), "force_generic_plan");
  // A failing listing ends its transaction: the session is as before.
  absl::StatusOr<Result> bad = lease->ExecUnprepared("SELECT 1/0", none, "bad");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(setting(prepared), "force_generic_plan");
  EXPECT_EQ(PQtransactionStatus(lease->conn()), PQTRANS_IDLE);
}

// query_timeout bounds each call on the client (a hung server cannot
// enforce statement_timeout); pg_hang_test.cc checks it against one.
TEST(PgTimeouts, QueryTimeoutFollowsStatementTimeout) {
  auto timeout = [](const std::string& query) {
    absl::StatusOr<Url> url = ParseUrl(absl::StrCat("postgres://h/db", query));
    EXPECT_TRUE(url.ok());
    absl::StatusOr<ConnSettings> s = SettingsFromUrl(*url, "");
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->query_timeout : absl::ZeroDuration();
  };
  EXPECT_EQ(timeout(""), absl::Seconds(65));
  EXPECT_EQ(timeout("?statement_timeout=1000"), absl::Seconds(6));
  EXPECT_EQ(timeout("?statement_timeout=0"), absl::Minutes(5));
  EXPECT_EQ(timeout("?query_timeout=1500"), absl::Milliseconds(1500));
  EXPECT_EQ(timeout("?query_timeout=0"), absl::InfiniteDuration());
  // Not a libpq keyword.
  EXPECT_EQ(ParamsOf("postgres://h/db?query_timeout=9").count("query_timeout"), 0u);
  absl::StatusOr<Url> url = ParseUrl("postgres://h/db?query_timeout=5s");
  ASSERT_TRUE(url.ok());
  absl::Status bad = SettingsFromUrl(*url, "").status();
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_THAT(bad.message(), HasSubstr("query_timeout"));
}

TEST(PgTimeouts, BadValuesAreInvalidArgument) {
  for (const char* v : {"-1", "soon", "10s", "99999999999"}) {
    absl::StatusOr<Url> url =
        ParseUrl(absl::StrCat("postgres://:secret@h/db?statement_timeout=", v));
    ASSERT_TRUE(url.ok());
    absl::StatusOr<ConnSettings> s = SettingsFromUrl(*url, "");
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << v << ": " << s.status();
    EXPECT_THAT(s.status().message(), HasSubstr("milliseconds"));
    EXPECT_THAT(s.status().message(), ::testing::Not(HasSubstr("secret")));
  }
  // libpq judges its own keywords, before any network traffic.
  BlackHole hole(BlackHole::Mode::kSilent);
  for (const char* q : {"keepalives_idle=never", "no_such_option=1"}) {
    absl::Status s;
    absl::Duration took =
        Timed([&] { s = OpenStatus(absl::StrCat("postgres://", hole.HostPort(), "/db?", q)); });
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << q << ": " << s;
    EXPECT_LT(took, absl::Seconds(1)) << q;
  }
}

// libpq sets the keepalive and user-timeout options on its socket before it
// connects: they protect every connection, the idle LISTEN one included.
TEST(PgTimeouts, SocketCarriesKeepalivesAndUserTimeout) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::StatusOr<Url> url = ParseUrl(
      absl::StrCat("postgres://", hole.HostPort(), "/db?keepalives_idle=7&tcp_user_timeout=4321"));
  ASSERT_TRUE(url.ok());
  absl::StatusOr<ConnSettings> s = SettingsFromUrl(*url, "");
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : s->params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  ConnPtr conn(PQconnectStartParams(keys.data(), values.data(), 0));
  ASSERT_NE(conn, nullptr);
  ASSERT_NE(PQstatus(conn.get()), CONNECTION_BAD) << PQerrorMessage(conn.get());
  int fd = PQsocket(conn.get());
  ASSERT_GE(fd, 0);
  auto opt = [fd](int level, int name) { return BlackHole::SocketOption(fd, level, name); };
  EXPECT_EQ(opt(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_KEEPIDLE), 7);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_KEEPINTVL), 10);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_USER_TIMEOUT), 4321);
}

TEST(PgTimeouts, SilentServerFailsOpenWithinConnectTimeout) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::Status s;
  // libpq rounds connect_timeout up to 2 s.
  absl::Duration took = Timed([&] {
    s = OpenStatus(absl::StrCat("postgres://u:pw@", hole.HostPort(), "/db?connect_timeout=2"));
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(hole.HostPort()));
  EXPECT_THAT(s.message(), HasSubstr("timeout"));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(PgTimeouts, UnreachableServerFailsOpenWithinConnectTimeout) {
  BlackHole hole(BlackHole::Mode::kNeverAccept);
  absl::Status s;
  absl::Duration took = Timed([&] {
    s = OpenStatus(absl::StrCat("postgres://", hole.HostPort(), "/db?connect_timeout=2"));
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("timeout"));
  EXPECT_LT(took, absl::Seconds(5));
}

// The listener's thread retries a silent server without end; stopping it
// must not wait for more than one connect attempt.
TEST(PgTimeouts, ListenerOnSilentServerStaysStoppable) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::StatusOr<Url> url =
      ParseUrl(absl::StrCat("postgres://", hole.HostPort(), "/db?connect_timeout=2"));
  ASSERT_TRUE(url.ok());
  absl::StatusOr<ConnSettings> s = SettingsFromUrl(*url, "");
  ASSERT_TRUE(s.ok());
  absl::Duration took = Timed([&] {
    Listener listener(*s, "timeouts");
    listener.Subscribe([](const std::string&) {});
    EXPECT_FALSE(listener.listening());
  });
  EXPECT_LT(took, absl::Seconds(5));
}

// ---- against the real server (skipped without one)

TEST(PgTimeouts, StatementTimeoutEndsASlowStatement) {
  POPQUEUE_REQUIRE_POSTGRES();
  absl::StatusOr<Url> url = ParseUrl(popqueue::testing::PostgresUrl());
  ASSERT_TRUE(url.ok());
  url->query["statement_timeout"] = "200";
  absl::StatusOr<ConnSettings> s = SettingsFromUrl(*url, "postgres");
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<ConnPtr> conn = Connect(*s);
  ASSERT_TRUE(conn.ok()) << conn.status();
  Result r;
  absl::Duration took = Timed([&] { r.reset(PQexec(conn->get(), "SELECT pg_sleep(10)")); });
  absl::Status st = ResultStatus(r.get(), conn->get(), s->where, "sleep");
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("statement_timeout"));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(PgTimeouts, MigrationIsNotCutByStatementTimeout) {
  POPQUEUE_REQUIRE_POSTGRES();
  absl::StatusOr<Url> url = ParseUrl(popqueue::testing::PostgresUrl());
  ASSERT_TRUE(url.ok());
  // 1 ms: creating the tables and indexes takes longer than that.
  std::string collection = popqueue::testing::UniqueCollection("pg_timeout");
  std::string u = absl::StrCat(popqueue::testing::PostgresUrl(), url->query.empty() ? "?" : "&",
                               "statement_timeout=1");
  auto store = popqueue::testing::OpenTestStore(collection, u);
  ASSERT_TRUE(store.ok()) << store.status();
  popqueue::testing::RawConn raw = popqueue::testing::RawConnect();
  std::vector<std::string> applied = popqueue::testing::Column(
      raw.get(), absl::StrCat("SELECT count(*) > 0 FROM \"", collection, "_migrations\""));
  EXPECT_EQ(applied, std::vector<std::string>{"t"});
  store->reset();
  for (const char* suffix :
       {"", "_queues", "_leaders", "_workers", "_cron_fires", "_counts", "_migrations"}) {
    (void)popqueue::testing::Column(
        raw.get(), absl::StrCat("DROP TABLE IF EXISTS \"", collection, suffix, "\" CASCADE"));
  }
}

}  // namespace
}  // namespace popqueue::store::postgres
