// The job stores a parameterized end-to-end test runs on: SQLite always,
// PostgreSQL and Redis when the test target was built with them (CMake
// defines POPQUEUE_TEST_STORE_POSTGRES / POPQUEUE_TEST_STORE_REDIS). Server
// URLs come from scripts/with-services' environment variables.
#ifndef POPQUEUE_TESTS_SUPPORT_STORE_BACKENDS_H_
#define POPQUEUE_TESTS_SUPPORT_STORE_BACKENDS_H_

#include <ostream>
#include <string>
#include <vector>

namespace popqueue::testing {

struct StoreBackend {
  std::string name;
  std::string url_env;  // "" = SQLite in a temp dir
  std::string db_name;
};

inline std::ostream& operator<<(std::ostream& os, const StoreBackend& b) { return os << b.name; }

inline std::vector<StoreBackend> CompiledStoreBackends() {
  std::vector<StoreBackend> out = {{"sqlite", "", "popqueue"}};
#ifdef POPQUEUE_TEST_STORE_POSTGRES
  out.push_back({"postgres", "POPQUEUE_TEST_POSTGRES_URL", "postgres"});
#endif
#ifdef POPQUEUE_TEST_STORE_REDIS
  out.push_back({"redis", "POPQUEUE_TEST_REDIS_URL", "popqueue"});
#endif
  return out;
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_STORE_BACKENDS_H_
