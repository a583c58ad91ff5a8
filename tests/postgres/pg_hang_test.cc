// A PostgreSQL server that hangs while its host keeps acknowledging TCP: the
// backend process serving the store's connection is stopped (SIGSTOP), so
// keepalives are answered, sends are acknowledged, and statement_timeout
// cannot fire. Only the client's query_timeout (pg_exec.h) ends the call.
// Stops one backend of the test's own, never the server: other tests run on.
#include <signal.h>
#include <sys/types.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pg_test_env.h"
#include "tests/support/black_hole.h"

namespace popqueue::testing {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// The test server's URL with `query` appended.
std::string UrlWith(const std::string& query) {
  std::string base = PostgresUrl();
  return absl::StrCat(base, base.find('?') == std::string::npos ? "?" : "&", query);
}

// Server pids of the connections whose application_name is `app`.
std::vector<pid_t> BackendsOf(PGconn* raw, const std::string& app) {
  const char* values[] = {app.c_str()};
  PGresult* r = PQexecParams(raw, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", 1,
                             nullptr, values, nullptr, nullptr, 0);
  EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(raw);
  std::vector<pid_t> out;
  for (int i = 0; i < PQntuples(r); ++i) out.push_back(atoi(PQgetvalue(r, i, 0)));
  PQclear(r);
  return out;
}

// Stops processes and continues them when destroyed, whatever the test's
// outcome: a backend left stopped would hold its locks for ever.
class Stopped {
 public:
  explicit Stopped(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    for (pid_t p : pids_) EXPECT_EQ(kill(p, SIGSTOP), 0) << "SIGSTOP " << p;
  }
  ~Stopped() { Continue(); }
  void Continue() {
    for (pid_t p : pids_) EXPECT_EQ(kill(p, SIGCONT), 0) << "SIGCONT " << p;
    pids_.clear();
  }

 private:
  std::vector<pid_t> pids_;
};

TEST(PgHang, HungBackendFailsTheCallWithinQueryTimeout) {
  POPQUEUE_REQUIRE_POSTGRES();
  std::string app = UniqueCollection("pq_hang");
  auto store =
      OpenTestStore(UniqueCollection("pg_hang"),
                    UrlWith(absl::StrCat("query_timeout=1000&pool_size=1&application_name=", app)));
  ASSERT_TRUE(store.ok()) << store.status();
  JobId id = 4242;
  auto inserted =
      (*store)->JobInsertMany(store::JobInsertManyParams{.jobs = {MakeJob(id)}, .now = kNow});
  ASSERT_TRUE(inserted.ok()) << inserted.status();

  RawConn raw = RawConnect();
  std::vector<pid_t> backends = BackendsOf(raw.get(), app);
  ASSERT_EQ(backends.size(), 1u) << "pool_size=1 and no LISTEN yet";

  Stopped stopped(backends);
  absl::StatusOr<Job> job;
  absl::Duration took = Timed([&] { job = (*store)->JobGet(store::JobGetParams{.id = id}); });
  stopped.Continue();

  EXPECT_TRUE(absl::IsDeadlineExceeded(job.status())) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("did not answer within 1s"));
  EXPECT_THAT(job.status().message(), HasSubstr("query_timeout"));
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));

  // The hung connection was dropped: the next call opens a new one.
  job = (*store)->JobGet(store::JobGetParams{.id = id});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id, id);
  std::vector<pid_t> now = BackendsOf(raw.get(), app);
  EXPECT_THAT(now, ::testing::Not(::testing::Contains(backends[0])));
}

TEST(PgHang, HungBackendFailsATransactionWithinQueryTimeout) {
  POPQUEUE_REQUIRE_POSTGRES();
  std::string app = UniqueCollection("pq_hang");
  auto store =
      OpenTestStore(UniqueCollection("pg_hang"),
                    UrlWith(absl::StrCat("query_timeout=500&pool_size=1&application_name=", app)));
  ASSERT_TRUE(store.ok()) << store.status();
  RawConn raw = RawConnect();
  std::vector<pid_t> backends = BackendsOf(raw.get(), app);
  ASSERT_EQ(backends.size(), 1u);

  // A cron fire runs BEGIN ... COMMIT on one leased connection.
  store::CronFireOnceParams fire{
      .schedule = "hourly", .fire_time = kNow, .job = MakeJob(7), .now = kNow};
  absl::StatusOr<bool> fired;
  {
    Stopped stopped(backends);
    absl::Duration took = Timed([&] { fired = (*store)->CronFireOnce(fire); });
    EXPECT_TRUE(absl::IsDeadlineExceeded(fired.status())) << fired.status();
    EXPECT_LT(took, absl::Seconds(3));
  }
  fired = (*store)->CronFireOnce(fire);
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_TRUE(*fired);
}

// LISTEN waits idle far longer than query_timeout: that is no hang.
TEST(PgHang, IdleListenOutlivesQueryTimeout) {
  POPQUEUE_REQUIRE_POSTGRES();
  auto store = OpenTestStore(UniqueCollection("pg_hang"), UrlWith("query_timeout=200"));
  ASSERT_TRUE(store.ok()) << store.status();
  Mutex mu;
  bool woken = false;
  auto h = (*store)->Subscribe([&](const std::string& queue) {
    MutexLock lock(&mu);
    if (queue == "late") woken = true;
  });
  ASSERT_TRUE(h.ok()) << h.status();
  absl::SleepFor(absl::Seconds(1));  // idle for 5 x query_timeout
  auto inserted = (*store)->JobInsertMany(
      store::JobInsertManyParams{.jobs = {MakeJob(1, "late")}, .now = kNow});
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  {
    MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&woken), absl::Seconds(5)));
  }
  (*store)->Unsubscribe(*h);
}

}  // namespace
}  // namespace popqueue::testing
