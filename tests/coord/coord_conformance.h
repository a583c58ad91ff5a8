// The coordinator conformance suite: one value-parameterized GoogleTest
// suite over coord::Coordinator that every backend passes (local, redis,
// memcached; see backends.cc, one entry per backend).
//
// Every test gets a fresh coordinator in its own namespace, so tests never
// see each other's keys even on a shared server. Server backends read their
// URL from an environment variable and skip without it (fail when CI=true).
#ifndef POPQUEUE_TESTS_COORD_COORD_CONFORMANCE_H_
#define POPQUEUE_TESTS_COORD_COORD_CONFORMANCE_H_

#include <cstdlib>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "coord/coordinator.h"
#include "gtest/gtest.h"

namespace popqueue::coord::testing {

struct Backend {
  std::string name;     // test-name suffix
  std::string url_env;  // "" for local; else the variable holding the URL
  // Opens a coordinator on `url` in namespace `ns`.
  std::function<absl::StatusOr<std::shared_ptr<Coordinator>>(const std::string& url,
                                                             const std::string& ns)>
      open;
  // Resolution of the backend's expiry (memcached: whole seconds).
  absl::Duration ttl_resolution = absl::Milliseconds(1);
};

inline std::ostream& operator<<(std::ostream& os, const Backend& b) { return os << b.name; }
inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

inline std::string EnvOr(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : v;
}

// A namespace no other test (or earlier run) uses.
inline std::string UniqueNamespace(const std::string& prefix = "t") {
  return absl::StrCat(prefix, "_", RandomToken() & 0xffffffffffff);
}

// Skips (or fails when CI=true) when the server URL variable is unset.
#define POPQUEUE_REQUIRE_URL(var)                                                     \
  do {                                                                                \
    if (!(var).empty() && ::popqueue::coord::testing::EnvOr((var).c_str()).empty()) { \
      if (::popqueue::coord::testing::EnvOr("CI") == "true") {                        \
        FAIL() << (var)                                                               \
               << " is not set (CI=true): run the tests under "                       \
                  "scripts/with-services or scripts/test";                            \
      }                                                                               \
      GTEST_SKIP() << (var) << " is not set; run under scripts/with-services";        \
    }                                                                                 \
  } while (0)

class CoordConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    POPQUEUE_REQUIRE_URL(GetParam().url_env);
    url_ = GetParam().url_env.empty() ? "" : EnvOr(GetParam().url_env.c_str());
    ns_ = UniqueNamespace();
    auto c = GetParam().open(url_, ns_);
    ASSERT_TRUE(c.ok()) << c.status();
    coord_ = std::move(*c);
  }

  // Another coordinator on the same server and namespace (another process's
  // view, as far as the server can tell). For local: the same object.
  std::shared_ptr<Coordinator> Peer() {
    if (GetParam().url_env.empty()) return coord_;
    auto c = GetParam().open(url_, ns_);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  Coordinator& c() { return *coord_; }
  absl::Duration Res() const { return GetParam().ttl_resolution; }

  std::string url_;
  std::string ns_;
  std::shared_ptr<Coordinator> coord_;
};

}  // namespace popqueue::coord::testing

#endif  // POPQUEUE_TESTS_COORD_COORD_CONFORMANCE_H_
