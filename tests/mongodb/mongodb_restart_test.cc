// The MongoDB store while its server goes away and comes back: calls during
// the downtime fail with kUnavailable within a bounded time (and name the
// host, never a password), and the same Store works again once the server is
// back, with its data. Needs POPQUEUE_TEST_MONGODB_STOP/START (FerretDB
// started by scripts/lib/services.sh); skipped against an external MongoDB.
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mongo_test_util.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {
namespace {

using ::popqueue::testing::EnvOr;
using ::popqueue::testing::FreshCollection;
using ::popqueue::testing::OpenOrDie;

TEST(MongoStoreRestart, UnreachableServerIsUnavailableQuickly) {
  // Nothing listens on port 1.
  const absl::Time start = absl::Now();
  auto store = OpenStore(
      {.url = "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=500",
       .db_name = "popqueue_test",
       .collection = "jobs"});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable)
      << store.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  const std::string message(store.status().message());
  EXPECT_NE(message.find("127.0.0.1:1"), std::string::npos) << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;
}

TEST(MongoStoreRestart, UnavailableDuringDowntimeThenRecovers) {
  POPQUEUE_REQUIRE_MONGODB(url);
  const std::string stop = EnvOr("POPQUEUE_TEST_MONGODB_STOP");
  const std::string start = EnvOr("POPQUEUE_TEST_MONGODB_START");
  if (stop.empty() || start.empty()) {
    GTEST_SKIP() << "the server is external (MONGODB_URL): cannot restart it";
  }
  auto store = OpenOrDie(url, FreshCollection("restart"));
  ASSERT_NE(store, nullptr);
  const absl::Time now = absl::Now();
  ASSERT_TRUE(
      store
          ->JobInsertMany(
              {.jobs = {{.id = 1, .queue = "q", .name = "n", .run_at = now}},
               .now = now})
          .ok());

  ASSERT_EQ(std::system(stop.c_str()), 0) << stop;
  const absl::Time down = absl::Now();
  auto get = store->JobGet({.id = 1});
  EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable)
      << get.status();
  auto claim = store->JobClaim({.queues = {"q"},
                                .worker_id = "w",
                                .limit = 1,
                                .now = now,
                                .lease = absl::Seconds(30),
                                .lease_token = 7});
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kUnavailable)
      << claim.status();
  // serverSelectionTimeoutMS defaults to 2000.
  EXPECT_LT(absl::Now() - down, absl::Seconds(10));

  ASSERT_EQ(std::system(start.c_str()), 0) << start;
  // The driver reconnects on its own; the first calls may still fail while
  // it rediscovers the server.
  absl::StatusOr<Job> back = absl::UnavailableError("not tried");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    back = store->JobGet({.id = 1});
    if (back.ok()) break;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kUnavailable)
        << back.status();
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->state, JobState::kAvailable);
  auto claimed = store->JobClaim({.queues = {"q"},
                                  .worker_id = "w",
                                  .limit = 1,
                                  .now = now,
                                  .lease = absl::Seconds(30),
                                  .lease_token = 7});
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->size(), 1u);
}

}  // namespace
}  // namespace popqueue::store
