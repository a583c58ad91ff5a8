// Runs the store conformance suite on the SQLite store: one temp file per
// test, opened through the registry like a user would.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "store/registry.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

absl::StatusOr<FreshStore> MakeSqlite(const std::string& /*url*/, const std::string& unique) {
  const std::string path = ::testing::TempDir() + unique + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((path + suffix).c_str());
  }
  absl::StatusOr<std::shared_ptr<store::Store>> store =
      store::OpenStore({.url = "sqlite://" + path, .db_name = "popqueue", .collection = "jobs"});
  if (!store.ok()) return store.status();
  return FreshStore{.store = *store, .cleanup = [path] {
                      for (const char* suffix : {"", "-wal", "-shm"}) {
                        std::remove((path + suffix).c_str());
                      }
                    }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(Backend{
                             .name = "sqlite", .url_env = "", .make = &MakeSqlite}),
                         BackendName);

}  // namespace
}  // namespace popqueue::conformance
