// Helpers for the MongoDB tests: the server URL from the environment
// (scripts/lib/services.sh exports POPQUEUE_TEST_MONGODB_URL: FerretDB, or
// MONGODB_URL when that names a real MongoDB), fresh collection names, and a
// store opened on them.
#ifndef POPQUEUE_TESTS_MONGODB_MONGO_TEST_UTIL_H_
#define POPQUEUE_TESTS_MONGODB_MONGO_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::testing {

inline std::string EnvOr(const char* name, std::string fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : fallback;
}

inline bool InCi() { return EnvOr("CI") == "true"; }

// A collection name no other test uses.
inline std::string FreshCollection(const std::string& prefix) {
  std::random_device rd;
  return prefix + "_" + std::to_string(rd() % 1000000000u);
}

inline std::shared_ptr<store::Store> OpenOrDie(const std::string& url,
                                               const std::string& collection) {
  auto store = store::OpenStore(
      {.url = url, .db_name = "popqueue_test", .collection = collection});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *store : nullptr;
}

}  // namespace popqueue::testing

// Declares `std::string url` with the server's URL. Without it the test is
// skipped, or fails when CI=true (CI must run it).
#define POPQUEUE_REQUIRE_MONGODB(url)                                        \
  const std::string url =                                                    \
      ::popqueue::testing::EnvOr("POPQUEUE_TEST_MONGODB_URL");               \
  if (url.empty()) {                                                         \
    if (::popqueue::testing::InCi()) {                                       \
      GTEST_FAIL() << "POPQUEUE_TEST_MONGODB_URL is not set (CI=true): run " \
                      "the tests through scripts/test";                      \
    }                                                                        \
    GTEST_SKIP() << "POPQUEUE_TEST_MONGODB_URL is not set: run the tests "   \
                    "through scripts/test, which starts FerretDB";           \
  }

#endif  // POPQUEUE_TESTS_MONGODB_MONGO_TEST_UTIL_H_
