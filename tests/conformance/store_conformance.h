// The store conformance suite: one value-parameterized GoogleTest suite over
// store::Store that every backend passes (see docs/store-contract.md).
//
// Adding a backend = one factory file that instantiates the suite, e.g.
//
//   INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
//       ::testing::Values(Backend{.name = "postgres",
//                                 .url_env = "POPQUEUE_TEST_POSTGRES_URL",
//                                 .make = &MakePostgres}),
//       BackendName);
//
// plus one line in tests/conformance/CMakeLists.txt. Every test gets a fresh,
// empty store (its own file, table, collection or key prefix). Time is always
// injected through params (kT0 and offsets); no test sleeps.
#ifndef POPQUEUE_TESTS_CONFORMANCE_STORE_CONFORMANCE_H_
#define POPQUEUE_TESTS_CONFORMANCE_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/store.h"
#include "tests/support/status_matchers.h"  // PQ_ASSERT_OK and friends

namespace popqueue::store {
// For failure messages: "12->dead".
inline void PrintTo(const RescuedJob& r, std::ostream* os) {
  *os << r.id << "->" << JobStateName(r.to);
}
}  // namespace popqueue::store

namespace popqueue::conformance {

// A fresh store for one test and how to clean up after it.
struct FreshStore {
  std::shared_ptr<store::Store> store;
  std::function<void()> cleanup;  // may be empty
};

struct Backend {
  std::string name;  // test-name suffix: [A-Za-z0-9_]
  // Empty for embedded backends. Otherwise the environment variable holding
  // the server URL; when unset the test is skipped (fails when CI=true).
  std::string url_env;
  // Makes a fresh, empty store. `url` is the env var's value ("" for
  // embedded backends); `unique` is a name unique to this test run, usable
  // as a table/collection/prefix ([a-z0-9_], at most 40 characters).
  std::function<absl::StatusOr<FreshStore>(const std::string& url, const std::string& unique)> make;
  // Jobs in the exactly-once stress test: servers that scan whole
  // collections per query (FerretDB v1) get fewer.
  int stress_jobs = 5000;
  // Non-empty on a server whose conditional single-document writes are not
  // atomic across connections (FerretDB 1.24: findAndModify is a read, then a
  // write): the reason, and the cases that race writers over one document
  // skip with it instead of testing what that server cannot give.
  std::string racing_writes_not_atomic;
};

inline std::ostream& operator<<(std::ostream& os, const Backend& b) { return os << b.name; }
// For INSTANTIATE_TEST_SUITE_P: names tests after the backend.
std::string BackendName(const ::testing::TestParamInfo<Backend>& info);

// For server backends: the URL in environment variable `var`, or why there
// is none. CI=true turns the missing URL into a failure, so a CI run never
// silently skips a backend it builds. Use PQ_REQUIRE_SERVER_URL in tests.
struct ServerUrl {
  std::optional<std::string> url;
  bool fail = false;   // CI=true and no URL
  std::string reason;  // when !url
};
ServerUrl ServerUrlFromEnv(const std::string& var);

// A fixed, injected "now" for every test.
inline const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  store::Store& db() { return *store_; }

  // A new job with a fresh id, due at kT0 on queue "default".
  store::NewJob Job(std::string queue = "default", std::string name = "work");
  // Inserts one job at `now`; the result or a failed assertion.
  absl::StatusOr<EnqueueResult> Insert(const store::NewJob& job, absl::Time now = kT0);
  // Inserts `n` jobs on `queue`; returns their ids in order.
  std::vector<JobId> InsertN(int n, const std::string& queue = "default");
  absl::StatusOr<std::vector<popqueue::Job>> Claim(std::vector<std::string> queues, int limit,
                                                   absl::Time now = kT0, int64_t token = 77,
                                                   absl::Duration lease = absl::Seconds(30),
                                                   const std::string& worker = "w1");
  absl::StatusOr<popqueue::Job> Get(JobId id);
  // Completes (id, token) at `now`; true when the store accepted it.
  bool Complete(JobId id, int64_t token, absl::Time now = kT0,
                std::optional<std::string> result = std::nullopt);
  // Fails (id, token) to `to`; true when the store accepted it.
  bool Fail(JobId id, int64_t token, JobState to, absl::Time run_at, const std::string& error,
            absl::Time now = kT0);
  std::vector<JobId> ListIds(const JobFilter& filter);

  JobId NextId() { return next_id_++; }

 private:
  std::shared_ptr<store::Store> store_;
  std::function<void()> cleanup_;
  JobId next_id_ = 1'000'000;
};

}  // namespace popqueue::conformance

// In a void test function (or SetUp): sets `out` to the server URL in env
// `var`, or skips the test (fails it when CI=true) and returns.
#define PQ_REQUIRE_SERVER_URL(var, out)                                                          \
  do {                                                                                           \
    ::popqueue::conformance::ServerUrl pq_url_ = ::popqueue::conformance::ServerUrlFromEnv(var); \
    if (!pq_url_.url) {                                                                          \
      if (pq_url_.fail) GTEST_FAIL() << pq_url_.reason;                                          \
      GTEST_SKIP() << pq_url_.reason;                                                            \
    }                                                                                            \
    (out) = *pq_url_.url;                                                                        \
  } while (false)

#endif  // POPQUEUE_TESTS_CONFORMANCE_STORE_CONFORMANCE_H_
