// Runs the store conformance suite on the MongoDB store, on each MongoDB-wire
// server the test services start: POPQUEUE_TEST_MONGODB_URL (FerretDB, or
// MONGODB_URL's real MongoDB) and POPQUEUE_TEST_MONGOJAVA_URL
// (mongo-java-server). One set of collections per test in the database
// "popqueue_conformance", opened through the registry like a user would,
// dropped afterwards.
#include <string>

#include "gtest/gtest.h"
#include "store/mongodb/mongo_client.h"
#include "store/registry.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

constexpr char kDatabase[] = "popqueue_conformance";

// Drops every collection the store creates for `collection`.
void DropCollection(const std::string& url, const std::string& collection) {
  auto pool = store::mongodb::Pool::Open(url);
  if (!pool.ok()) return;
  store::mongodb::Pool::Lease lease(pool->get());
  for (const char* suffix :
       {"", "_queues", "_leaders", "_workers", "_cron_fires", "_claims", "_levels"}) {
    const std::string name = collection + suffix;
    store::mongodb::Collection c(**pool, lease, kDatabase, name);
    store::mongodb::Doc drop;
    drop.Str("drop", name);
    (void)c.Command(drop, "drop");  // NamespaceNotFound when absent: fine
  }
}

absl::StatusOr<FreshStore> MakeMongo(const std::string& url, const std::string& unique) {
  DropCollection(url, unique);  // left over by an earlier run with this pid
  absl::StatusOr<std::shared_ptr<store::Store>> store =
      store::OpenStore({.url = url, .db_name = kDatabase, .collection = unique});
  if (!store.ok()) return store.status();
  return FreshStore{.store = *store, .cleanup = [url, unique] { DropCollection(url, unique); }};
}

INSTANTIATE_TEST_SUITE_P(
    MongoDB, StoreConformanceTest,
    ::testing::Values(
        Backend{.name = "mongodb",
                .url_env = "POPQUEUE_TEST_MONGODB_URL",
                .make = &MakeMongo,
                // FerretDB (the default test server) scans the
                // jobs table once per query: 2000 jobs keep
                // the test near a minute on a busy machine.
                .stress_jobs = 2000,
                .racing_writes_not_atomic = "FerretDB runs a conditional update as a "
                                            "read, then a write (docs/mongodb.md; "
                                            "tests/mongodb/mongodb_atomicity_test.cc)"},
        Backend{.name = "mongojava", .url_env = "POPQUEUE_TEST_MONGOJAVA_URL", .make = &MakeMongo}),
    BackendName);

}  // namespace
}  // namespace popqueue::conformance
