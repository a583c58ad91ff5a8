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
#define POPQUEUE_REQUIRE_REDIS()                                             \
  do {                                                                       \
    if (::popqueue::testing::RedisUrl().empty()) {                           \
      if (::popqueue::testing::EnvOr("CI") == "true") {                      \
        FAIL() << "POPQUEUE_TEST_REDIS_URL is not set (CI=true): run the "   \
                  "tests through scripts/with-services";                     \
      }                                                                      \
      GTEST_SKIP() << "POPQUEUE_TEST_REDIS_URL is not set; run through "     \
                      "scripts/with-services to start redis-server";         \
    }                                                                        \
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

// Every key of the store with collection `collection`.
inline std::vector<std::string> KeysOf(redis::Client& client,
                                       const std::string& collection) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto r = client.Command({"SCAN", cursor, "MATCH",
                             absl::StrCat("{", collection, "}:*"), "COUNT",
                             "1000"});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->elements.size() != 2) break;
    cursor = r->elements[0].str;
    for (const redis::Reply& k : r->elements[1].elements) keys.push_back(k.str);
  } while (cursor != "0");
  return keys;
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
