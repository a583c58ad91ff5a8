// Helpers for the MongoDB tests: the servers they run on, fresh collection
// names, and a store opened on them. Every server test is a TEST_P of
// MongoServerTest, run once per MongoDB-wire server scripts/lib/services.sh
// starts: "mongodb" (POPQUEUE_TEST_MONGODB_*: FerretDB, or MONGODB_URL when
// that names a real MongoDB) and "mongojava" (POPQUEUE_TEST_MONGOJAVA_*:
// mongo-java-server). The parameter is the variables' prefix; URL, STOP,
// START and RESTART follow it.
#ifndef POPQUEUE_TESTS_MONGODB_MONGO_TEST_UTIL_H_
#define POPQUEUE_TESTS_MONGODB_MONGO_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <ostream>
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
  auto store = store::OpenStore({.url = url, .db_name = "popqueue_test", .collection = collection});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *store : nullptr;
}

struct MongoServer {
  const char* name;    // test-name suffix
  const char* prefix;  // of its environment variables
};

class MongoServerTest : public ::testing::TestWithParam<MongoServer> {
 protected:
  // The server's variable `suffix` ("URL", "STOP", ...), or "".
  static std::string ServerEnv(const char* suffix) {
    return EnvOr((std::string(GetParam().prefix) + "_" + suffix).c_str());
  }
};

inline const MongoServer kMongoServers[] = {
    {"mongodb", "POPQUEUE_TEST_MONGODB"},
    {"mongojava", "POPQUEUE_TEST_MONGOJAVA"},
};

inline void PrintTo(const MongoServer& s, std::ostream* os) { *os << s.name; }

inline std::string MongoServerName(const ::testing::TestParamInfo<MongoServer>& info) {
  return info.param.name;
}

}  // namespace popqueue::testing

// Runs `fixture`'s TEST_Ps once per server.
#define POPQUEUE_MONGODB_SERVERS(fixture)                                           \
  INSTANTIATE_TEST_SUITE_P(Servers, fixture,                                        \
                           ::testing::ValuesIn(::popqueue::testing::kMongoServers), \
                           ::popqueue::testing::MongoServerName)

// Declares `std::string url` with the server's URL. Without it the test is
// skipped, or fails when CI=true (CI must run it).
#define POPQUEUE_REQUIRE_MONGODB(url)                                       \
  const std::string url = ServerEnv("URL");                                 \
  if (url.empty()) {                                                        \
    if (::popqueue::testing::InCi()) {                                      \
      GTEST_FAIL() << GetParam().prefix                                     \
                   << "_URL is not set (CI=true): run the tests through "   \
                      "scripts/test";                                       \
    }                                                                       \
    GTEST_SKIP() << GetParam().prefix                                       \
                 << "_URL is not set: run the tests through scripts/test, " \
                    "which starts FerretDB and mongo-java-server";          \
  }

#endif  // POPQUEUE_TESTS_MONGODB_MONGO_TEST_UTIL_H_
