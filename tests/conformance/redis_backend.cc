// Runs the store conformance suite on the Redis store: one key prefix per
// test in the server from POPQUEUE_TEST_REDIS_URL, opened through the
// registry like a user would; its keys are deleted afterwards.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/redis/redis_client.h"
#include "common/url.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

// Deletes every key of the store with collection `collection`.
void DeleteKeys(const std::string& url, const std::string& collection) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return;
  auto client = redis::Client::Connect(*parsed);
  if (!client.ok()) return;
  std::string cursor = "0";
  do {
    auto r = (*client)->Command({"SCAN", cursor, "MATCH",
                                 absl::StrCat("{", collection, "}:*"), "COUNT",
                                 "1000"});
    if (!r.ok() || r->elements.size() != 2) return;
    cursor = r->elements[0].str;
    std::vector<std::string> del = {"UNLINK"};
    for (const redis::Reply& key : r->elements[1].elements) del.push_back(key.str);
    if (del.size() > 1) (void)(*client)->Command(del);
  } while (cursor != "0");
}

absl::StatusOr<FreshStore> MakeRedis(const std::string& url,
                                     const std::string& unique) {
  DeleteKeys(url, unique);  // left over by an earlier run with this pid
  absl::StatusOr<std::shared_ptr<store::Store>> store = store::OpenStore(
      {.url = url, .db_name = "popqueue", .collection = unique});
  if (!store.ok()) return store.status();
  return FreshStore{.store = *store,
                    .cleanup = [url, unique] { DeleteKeys(url, unique); }};
}

INSTANTIATE_TEST_SUITE_P(
    Redis, StoreConformanceTest,
    ::testing::Values(Backend{.name = "redis",
                              .url_env = "POPQUEUE_TEST_REDIS_URL",
                              .make = &MakeRedis}),
    BackendName);

}  // namespace
}  // namespace popqueue::conformance
