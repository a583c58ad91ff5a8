// Really stops and starts the PostgreSQL server (POPQUEUE_TEST_POSTGRES_STOP
// and _START from scripts/lib/services.sh): calls made while it is down
// return kUnavailable with a message naming the server, calls after it is
// back succeed without reopening the store, the listener reconnects, and
// nothing committed is lost. Runs alone (RUN_SERIAL): it takes the shared
// server away from every other test.
#include <cstdlib>
#include <map>

#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pg_test_env.h"

namespace popqueue::testing {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(PostgresRestartTest, UnavailableWhileDownThenRecoversWithNothingLost) {
  POPQUEUE_REQUIRE_POSTGRES();
  std::string stop = EnvOr("POPQUEUE_TEST_POSTGRES_STOP");
  std::string start = EnvOr("POPQUEUE_TEST_POSTGRES_START");
  if (stop.empty() || start.empty()) {
    if (EnvOr("CI") == "true") FAIL() << "POPQUEUE_TEST_POSTGRES_STOP/START unset";
    GTEST_SKIP() << "POPQUEUE_TEST_POSTGRES_STOP/START unset (scripts/lib/services.sh sets them)";
  }
  auto url = ParseUrl(PostgresUrl());
  ASSERT_TRUE(url.ok());
  std::string host_port = absl::StrCat(url->host, ":", url->port);

  auto opened = OpenTestStore(UniqueCollection("rst"));
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<store::postgres::PostgresStore> store = *opened;

  Mutex mu;
  std::map<std::string, int> wakes;
  auto sub = store->Subscribe([&](const std::string& q) {
    MutexLock lock(&mu);
    ++wakes[q];
  });
  ASSERT_TRUE(sub.ok());

  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 100; ++i) jobs.push_back(MakeJob(i));
  ASSERT_TRUE(store->JobInsertMany({.jobs = jobs, .now = kNow}).ok());
  auto claimed = store->JobClaim({.queues = {"default"},
                                  .worker_id = "w",
                                  .limit = 10,
                                  .now = kNow,
                                  .lease = absl::Minutes(5),
                                  .lease_token = 5});
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 10u);

  ASSERT_EQ(std::system(stop.c_str()), 0) << stop;

  auto insert = store->JobInsertMany({.jobs = {MakeJob(200)}, .now = kNow});
  ASSERT_TRUE(absl::IsUnavailable(insert.status())) << insert.status();
  EXPECT_THAT(insert.status().message(), HasSubstr(host_port));
  std::cout << "while down: " << insert.status() << "\n";
  auto claim = store->JobClaim({.queues = {"default"},
                                .worker_id = "w",
                                .limit = 10,
                                .now = kNow,
                                .lease = absl::Minutes(5),
                                .lease_token = 6});
  EXPECT_TRUE(absl::IsUnavailable(claim.status())) << claim.status();
  EXPECT_TRUE(absl::IsUnavailable(store->JobCountByState().status()));

  ASSERT_EQ(std::system(start.c_str()), 0) << start;

  // Back up: the same store reconnects (after at most its 2 s backoff).
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  absl::StatusOr<store::JobInsertManyResult> again;
  do {
    again = store->JobInsertMany({.jobs = {MakeJob(200)}, .now = kNow});
    if (!again.ok()) absl::SleepFor(absl::Milliseconds(50));
  } while (!again.ok() && absl::Now() < deadline);
  ASSERT_TRUE(again.ok()) << again.status();

  // The leases taken before the restart still hold: nothing was lost.
  std::vector<store::JobCompleteItem> items;
  for (const Job& j : *claimed) items.push_back({.id = j.id, .lease_token = 5});
  auto done = store->JobCompleteMany({.items = items, .now = kNow});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->size(), 10u);
  auto counts = store->JobCountByState();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ((*counts)[0].by_state.at(JobState::kAvailable), 91);
  EXPECT_EQ((*counts)[0].by_state.at(JobState::kCompleted), 10);

  // The listener reconnected too: a new insert wakes the subscriber.
  bool woke = false;
  for (int i = 0; i < 40 && !woke; ++i) {
    ASSERT_TRUE(store->JobInsertMany({.jobs = {MakeJob(300 + i, "wake")}, .now = kNow}).ok());
    MutexLock lock(&mu);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return wakes["wake"] > 0; };
    woke = mu.AwaitWithTimeout(absl::Condition(&seen), absl::Milliseconds(250));
  }
  EXPECT_TRUE(woke);
  store->Unsubscribe(*sub);
}

}  // namespace
}  // namespace popqueue::testing
