// Runs the store conformance suite on the PostgreSQL store: one collection
// (table set) per test in the server from POPQUEUE_TEST_POSTGRES_URL, opened
// through the registry like a user would, dropped afterwards.
#include <libpq-fe.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

// Drops every object the store creates for `collection`.
void DropCollection(const std::string& url, const std::string& collection) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) == CONNECTION_OK) {
    std::string sql = absl::StrCat("DROP TABLE IF EXISTS \"", collection, "\"");
    for (const char* t : {"queues", "leaders", "workers", "cron_fires", "counts", "migrations"}) {
      absl::StrAppend(&sql, ", \"", collection, "_", t, "\"");
    }
    absl::StrAppend(&sql, " CASCADE;");
    for (const char* f : {"insert", "update", "delete", "truncate"}) {
      absl::StrAppend(&sql, "DROP FUNCTION IF EXISTS \"", collection, "_counts_on_", f, "\"();");
    }
    PQclear(PQexec(c, sql.c_str()));
  }
  PQfinish(c);
}

absl::StatusOr<FreshStore> MakePostgres(const std::string& url, const std::string& unique) {
  DropCollection(url, unique);  // left over by an earlier run with this pid
  absl::StatusOr<std::shared_ptr<store::Store>> store =
      store::OpenStore({.url = url, .db_name = "postgres", .collection = unique});
  if (!store.ok()) return store.status();
  return FreshStore{.store = *store, .cleanup = [url, unique] { DropCollection(url, unique); }};
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(Backend{.name = "postgres",
                                                   .url_env = "POPQUEUE_TEST_POSTGRES_URL",
                                                   .make = &MakePostgres}),
                         BackendName);

}  // namespace
}  // namespace popqueue::conformance
