// Conformance: distributed rate limits (GCRA without burst, coord/gcra.h).
#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "coord_conformance.h"

namespace popqueue::coord::testing {
namespace {

RateLimitTakeParams Take(int64_t limit, absl::Duration period, const std::string& key = "job:x",
                         int64_t cost = 1) {
  return RateLimitTakeParams{.key = key, .limit = limit, .period = period, .cost = cost};
}

TEST_P(CoordConformanceTest, RateLimitSpacesTakesEvenly) {
  // 2 per 10 s: one take every 5 s.
  auto first = c().RateLimitTake(Take(2, absl::Seconds(10)));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->allowed);
  auto second = Peer()->RateLimitTake(Take(2, absl::Seconds(10)));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->allowed);
  EXPECT_GT(second->retry_after, absl::Seconds(4));
  EXPECT_LE(second->retry_after, absl::Seconds(5));
}

TEST_P(CoordConformanceTest, RateLimitAllowsAgainAfterRetryAfter) {
  const auto p = Take(10, absl::Seconds(1));  // one per 100 ms
  ASSERT_TRUE(c().RateLimitTake(p)->allowed);
  auto refused = c().RateLimitTake(p);
  ASSERT_TRUE(refused.ok()) << refused.status();
  ASSERT_FALSE(refused->allowed);
  EXPECT_LE(refused->retry_after, absl::Milliseconds(100));
  absl::SleepFor(refused->retry_after + absl::Milliseconds(5));  // what a caller does
  EXPECT_TRUE(Peer()->RateLimitTake(p)->allowed);
}

TEST_P(CoordConformanceTest, RateLimitCostAndKeys) {
  // Cost 5 of 10 per second uses half a second.
  ASSERT_TRUE(c().RateLimitTake(Take(10, absl::Seconds(1), "job:x", 5))->allowed);
  auto r = c().RateLimitTake(Take(10, absl::Seconds(1)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->allowed);
  EXPECT_GT(r->retry_after, absl::Milliseconds(300));
  EXPECT_TRUE(c().RateLimitTake(Take(10, absl::Seconds(1), "job:y"))->allowed);
}

TEST_P(CoordConformanceTest, RateLimitRejectsBadParams) {
  EXPECT_TRUE(absl::IsInvalidArgument(c().RateLimitTake(Take(0, absl::Seconds(1))).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(c().RateLimitTake(Take(5, absl::ZeroDuration())).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(c().RateLimitTake(Take(5, absl::Seconds(1), "job:x", 6)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(c().RateLimitTake(Take(5, absl::Seconds(1), "")).status()));
}

// Threads taking as fast as they are allowed get the limit, not more.
TEST_P(CoordConformanceTest, RateLimitHoldsAcrossThreads) {
  constexpr int64_t kLimit = 100;  // per second
  const absl::Duration run = absl::Milliseconds(1500);
  std::atomic<int64_t> granted{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int t = 0; t < 3; ++t) {
    std::shared_ptr<Coordinator> coord = Peer();
    threads.emplace_back([&, coord] {
      while (absl::Now() - start < run) {
        auto r = coord->RateLimitTake(Take(kLimit, absl::Seconds(1), "job:threads"));
        ASSERT_TRUE(r.ok()) << r.status();
        if (r->allowed) {
          granted++;
        } else {
          absl::SleepFor(std::min(r->retry_after, run - (absl::Now() - start)));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const double rate = granted.load() / absl::ToDoubleSeconds(run);
  EXPECT_GT(rate, kLimit * 0.9) << granted.load() << " takes in " << run;
  EXPECT_LT(rate, kLimit * 1.1) << granted.load() << " takes in " << run;
}

}  // namespace
}  // namespace popqueue::coord::testing
