#include "common/ids.h"

#include <limits>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace popqueue {
namespace {

TEST(IdGenerator, StrictlyIncreasingAndTimeOrdered) {
  IdGenerator gen;
  absl::Time t = absl::FromUnixSeconds(1800000000);
  JobId prev = 0;
  for (int i = 0; i < 10000; ++i) {  // more than 4096 in one millisecond
    JobId id = gen.Next(t);
    ASSERT_GT(id, prev);
    prev = id;
  }
  EXPECT_GT(gen.Next(t + absl::Seconds(1)), prev);
  EXPECT_LE(absl::AbsDuration(IdGenerator::TimeOf(prev) - t), absl::Milliseconds(10));
}

TEST(FirstIdAfter, BoundsTheIdsIssuedUpToATime) {
  IdGenerator gen;
  const absl::Time t = absl::FromUnixSeconds(1800000000);
  const JobId at_t = gen.Next(t);
  const JobId later = gen.Next(t + absl::Milliseconds(1));
  EXPECT_LT(at_t, FirstIdAfter(t));
  EXPECT_GE(later, FirstIdAfter(t));
  // Before the id epoch (2024): ids are clamped to its first millisecond.
  IdGenerator old;
  EXPECT_LT(old.Next(absl::FromUnixSeconds(0)), FirstIdAfter(absl::FromUnixSeconds(0)));
  EXPECT_EQ(FirstIdAfter(absl::InfiniteFuture()), std::numeric_limits<JobId>::max());
}

TEST(IdGenerator, UniqueAcrossThreads) {
  IdGenerator gen;
  std::vector<std::vector<JobId>> out(4);
  std::vector<std::thread> threads;
  for (auto& v : out) {
    threads.emplace_back([&gen, &v] {
      for (int i = 0; i < 20000; ++i) v.push_back(gen.Next(absl::Now()));
    });
  }
  for (auto& t : threads) t.join();
  std::set<JobId> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 80000u);
}

TEST(RandomToken, NonZero) {
  for (int i = 0; i < 1000; ++i) EXPECT_NE(RandomToken(), 0);
}

}  // namespace
}  // namespace popqueue
