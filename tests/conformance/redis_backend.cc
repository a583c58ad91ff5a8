// Runs the store conformance suite on the Redis store: one key prefix per
// test in the server from POPQUEUE_TEST_REDIS_URL, and again on the Redis
// Cluster from POPQUEUE_TEST_REDIS_CLUSTER_URL (3 masters + 3 replicas,
// scripts/lib/redis_cluster.sh), opened through the registry like a user
// would; its keys are deleted afterwards.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/redis/redis_client.h"
#include "common/url.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

// Deletes every key of the store with collection `collection` (on every
// master of a cluster): "{<collection>}:..." and "{<collection>:<queue>}:...".
void DeleteKeys(const std::string& url, const std::string& collection) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return;
  auto client = redis::Client::Connect(*parsed);
  if (!client.ok()) return;
  auto keys = (*client)->ScanKeys(absl::StrCat("{", collection, "[}:]*"));
  if (!keys.ok()) return;
  // One UNLINK per key: on a cluster they may not share a slot in general.
  for (const std::string& key : *keys) (void)(*client)->Command({"UNLINK", key});
}

absl::StatusOr<FreshStore> MakeRedis(const std::string& url, const std::string& unique) {
  DeleteKeys(url, unique);  // left over by an earlier run with this pid
  absl::StatusOr<std::shared_ptr<store::Store>> store =
      store::OpenStore({.url = url, .db_name = "popqueue", .collection = unique});
  if (!store.ok()) return store.status();
  return FreshStore{.store = *store, .cleanup = [url, unique] { DeleteKeys(url, unique); }};
}

INSTANTIATE_TEST_SUITE_P(Redis, StoreConformanceTest,
                         ::testing::Values(Backend{.name = "redis",
                                                   .url_env = "POPQUEUE_TEST_REDIS_URL",
                                                   .make = &MakeRedis},
                                           Backend{.name = "redis_cluster",
                                                   .url_env = "POPQUEUE_TEST_REDIS_CLUSTER_URL",
                                                   .make = &MakeRedis}),
                         BackendName);

}  // namespace
}  // namespace popqueue::conformance
