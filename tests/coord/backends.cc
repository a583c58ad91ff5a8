// Runs the coordinator conformance suite on every compiled-in backend: one
// entry per backend. Server backends read their URL from the environment
// (scripts/with-services sets them).
#include "coord_conformance.h"

namespace popqueue::coord::testing {
namespace {

absl::StatusOr<std::shared_ptr<Coordinator>> Open(const std::string& url, const std::string& ns) {
  return OpenCoordinator(url, ns);
}

std::vector<Backend> Backends() {
  std::vector<Backend> b = {{.name = "local", .url_env = "", .open = Open}};
#if POPQUEUE_WITH_REDIS
  b.push_back({.name = "redis", .url_env = "POPQUEUE_TEST_REDIS_URL", .open = Open});
  b.push_back(
      {.name = "redis_cluster", .url_env = "POPQUEUE_TEST_REDIS_CLUSTER_URL", .open = Open});
#endif
#if POPQUEUE_WITH_MEMCACHED
  b.push_back({.name = "memcached",
               .url_env = "POPQUEUE_TEST_MEMCACHED_URL",
               .open = Open,
               .ttl_resolution = absl::Seconds(1)});
#endif
  return b;
}

INSTANTIATE_TEST_SUITE_P(Coordinators, CoordConformanceTest, ::testing::ValuesIn(Backends()),
                         BackendName);

}  // namespace
}  // namespace popqueue::coord::testing
