// Shared helpers of the PostgreSQL tests: the server from
// POPQUEUE_TEST_POSTGRES_URL (started by scripts/lib/services.sh), a fresh
// collection per test, and raw libpq access for checks behind the store.
#ifndef POPQUEUE_TESTS_POSTGRES_PG_TEST_ENV_H_
#define POPQUEUE_TESTS_POSTGRES_PG_TEST_ENV_H_

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/url.h"
#include "gtest/gtest.h"
#include "store/postgres/postgres_store_impl.h"

namespace popqueue::testing {

inline std::string PostgresUrl() {
  const char* url = std::getenv("POPQUEUE_TEST_POSTGRES_URL");
  return url == nullptr ? "" : url;
}

inline std::string EnvOr(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : v;
}

// Skips the test without a server; fails it in CI (CI=true), where a missing
// server is a broken set-up, not a reason to pass.
#define POPQUEUE_REQUIRE_POSTGRES()                                          \
  do {                                                                       \
    if (::popqueue::testing::PostgresUrl().empty()) {                        \
      if (::popqueue::testing::EnvOr("CI") == "true") {                      \
        FAIL() << "POPQUEUE_TEST_POSTGRES_URL is not set (CI=true): start "  \
                  "the server with scripts/test or scripts/lib/services.sh"; \
      }                                                                      \
      GTEST_SKIP() << "POPQUEUE_TEST_POSTGRES_URL is not set; run "          \
                      "scripts/test to start PostgreSQL";                    \
    }                                                                        \
  } while (0)

// A collection name no other test uses.
inline std::string UniqueCollection(const std::string& prefix) {
  return absl::StrCat(prefix, "_", RandomToken() & 0xffffffffff);
}

inline absl::StatusOr<std::shared_ptr<store::postgres::PostgresStore>> OpenTestStore(
    const std::string& collection, const std::string& url = PostgresUrl()) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  return store::postgres::PostgresStore::Open(
      *parsed, store::StoreConfig{.url = url, .db_name = "postgres", .collection = collection});
}

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using RawConn = std::unique_ptr<PGconn, PgConnCloser>;

// A plain libpq connection to the test server (the URL is a libpq URI).
inline RawConn RawConnect() {
  RawConn c(PQconnectdb(PostgresUrl().c_str()));
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  return c;
}

// Runs `sql` and returns the first column of every row ("" for NULL).
inline std::vector<std::string> Column(PGconn* c, const std::string& sql) {
  std::vector<std::string> out;
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_TRUE(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
      << sql << ": " << PQerrorMessage(c);
  for (int i = 0; i < PQntuples(r); ++i) out.push_back(PQgetvalue(r, i, 0));
  PQclear(r);
  return out;
}

inline store::NewJob MakeJob(JobId id, std::string queue = "default", std::string identifier = "",
                             absl::Time run_at = absl::UnixEpoch()) {
  return store::NewJob{.id = id,
                       .queue = std::move(queue),
                       .name = "test",
                       .identifier = std::move(identifier),
                       .data = absl::StrCat("{\"n\":", id, "}"),
                       .max_attempts = 3,
                       .run_at = run_at};
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_POSTGRES_PG_TEST_ENV_H_
