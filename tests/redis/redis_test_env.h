// Shared helpers of the Redis tests: the server from POPQUEUE_TEST_REDIS_URL
// (started by scripts/with-services), fresh key prefixes, and cleanup.
#ifndef POPQUEUE_TESTS_REDIS_REDIS_TEST_ENV_H_
#define POPQUEUE_TESTS_REDIS_REDIS_TEST_ENV_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/redis/redis_client.h"
#include "common/url.h"
#include "gtest/gtest.h"

namespace popqueue::testing {

inline std::string RedisUrl() {
  const char* url = std::getenv("POPQUEUE_TEST_REDIS_URL");
  return url == nullptr ? "" : url;
}

inline std::string EnvOr(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : v;
}

// Skips the test without a server; fails it in CI (CI=true).
#define POPQUEUE_REQUIRE_REDIS()                                           \
  do {                                                                     \
    if (::popqueue::testing::RedisUrl().empty()) {                         \
      if (::popqueue::testing::EnvOr("CI") == "true") {                    \
        FAIL() << "POPQUEUE_TEST_REDIS_URL is not set (CI=true): run the " \
                  "tests through scripts/with-services";                   \
      }                                                                    \
      GTEST_SKIP() << "POPQUEUE_TEST_REDIS_URL is not set; run through "   \
                      "scripts/with-services to start redis-server";       \
    }                                                                      \
  } while (0)

inline std::string RedisClusterUrl() { return EnvOr("POPQUEUE_TEST_REDIS_CLUSTER_URL"); }

// Skips the test without the test cluster; fails it in CI (CI=true).
#define POPQUEUE_REQUIRE_REDIS_CLUSTER()                                       \
  do {                                                                         \
    if (::popqueue::testing::RedisClusterUrl().empty()) {                      \
      if (::popqueue::testing::EnvOr("CI") == "true") {                        \
        FAIL() << "POPQUEUE_TEST_REDIS_CLUSTER_URL is not set (CI=true): run " \
                  "the tests through scripts/with-services";                   \
      }                                                                        \
      GTEST_SKIP() << "POPQUEUE_TEST_REDIS_CLUSTER_URL is not set; run "       \
                      "through scripts/with-services to start the cluster";    \
    }                                                                          \
  } while (0)

// A collection (key prefix) no other test uses.
inline std::string UniqueCollection(const std::string& prefix) {
  return absl::StrCat(prefix, "_", RandomToken() & 0xffffffffff);
}

inline std::shared_ptr<redis::Client> RawClient() {
  auto url = ParseUrl(RedisUrl());
  EXPECT_TRUE(url.ok()) << url.status();
  if (!url.ok()) return nullptr;
  auto client = redis::Client::Connect(*url);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *client : nullptr;
}

// Every key of the store with collection `collection` (on every master of
// a cluster): "{<collection>}:..." and "{<collection>:<queue>}:...".
inline std::vector<std::string> KeysOf(redis::Client& client, const std::string& collection) {
  auto keys = client.ScanKeys(absl::StrCat("{", collection, "[}:]*"));
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *std::move(keys) : std::vector<std::string>{};
}

inline void DeleteKeys(const std::string& collection) {
  std::shared_ptr<redis::Client> client = RawClient();
  if (client == nullptr) return;
  for (const std::string& key : KeysOf(*client, collection)) {
    (void)client->Command({"UNLINK", key});
  }
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_REDIS_REDIS_TEST_ENV_H_
