#include "core/concurrency_limiter.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popqueue::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::map<std::string, int> AsMap(const std::vector<std::pair<std::string, int>>& v) {
  return {v.begin(), v.end()};
}

TEST(ConcurrencyLimiter, PerQueueLimitsWithoutGlobalCap) {
  WorkerOptions o{.concurrency = {{"a", 2}}, .default_concurrency = 3, .queues = {"a", "b"}};
  ConcurrencyLimiter l(o);
  EXPECT_EQ(l.configured(), 5);
  EXPECT_EQ(l.limit(), 5);
  EXPECT_THAT(l.FreeSlots(), ElementsAre(Pair("a", 2), Pair("b", 3)));
  l.Acquire("a", 2);
  EXPECT_FALSE(l.CanStart("a"));
  EXPECT_TRUE(l.CanStart("b"));
  EXPECT_THAT(l.FreeSlots(), ElementsAre(Pair("b", 3)));
  l.Release("a");
  EXPECT_EQ(l.busy(), 1);
  EXPECT_EQ(l.busy("a"), 1);
}

TEST(ConcurrencyLimiter, GlobalCapIsDealtAcrossQueuesInTurn) {
  WorkerOptions o{.default_concurrency = 4, .max_concurrency = 3, .queues = {"a", "b", "c"}};
  ConcurrencyLimiter l(o);
  EXPECT_EQ(l.configured(), 3);
  // Three rounds start from three different queues; every queue gets a slot.
  std::map<std::string, int> total;
  for (int round = 0; round < 3; ++round) {
    auto free = AsMap(l.FreeSlots());
    int sum = 0;
    for (const auto& [q, n] : free) {
      sum += n;
      total[q] += n;
    }
    EXPECT_EQ(sum, 3);
  }
  EXPECT_EQ(total, (std::map<std::string, int>{{"a", 3}, {"b", 3}, {"c", 3}}));
  l.Acquire("a", 2);
  EXPECT_EQ(AsMap(l.FreeSlots()).size(), 1u);
  l.Acquire("b", 1);
  EXPECT_TRUE(l.FreeSlots().empty());
  EXPECT_FALSE(l.CanStart("c"));
}

TEST(ConcurrencyLimiter, QueuesWithMoreWorkAreServedFirst) {
  WorkerOptions o{.default_concurrency = 4, .max_concurrency = 2, .queues = {"a", "b", "c"}};
  ConcurrencyLimiter l(o);
  l.SetMore("c", true);
  // "c" gets a slot every round; the other slot rotates, so a queue that
  // looked empty is still polled and never starved.
  std::map<std::string, int> total;
  for (int round = 0; round < 4; ++round) {
    auto free = AsMap(l.FreeSlots());
    EXPECT_EQ(free["c"], 1) << round;
    for (const auto& [q, n] : free) total[q] += n;
  }
  EXPECT_GT(total["a"], 0);
  EXPECT_GT(total["b"], 0);
}

TEST(ConcurrencyLimiter, LoweredLimitStopsStartsUntilJobsFinish) {
  WorkerOptions o{.default_concurrency = 8};
  ConcurrencyLimiter l(o);
  l.Acquire(kDefaultQueue, 6);
  l.SetMore(kDefaultQueue, true);
  EXPECT_TRUE(l.ShouldFetchAgain());
  l.SetLimit(4);
  EXPECT_EQ(l.limit(), 4);
  EXPECT_FALSE(l.ShouldFetchAgain());
  EXPECT_TRUE(l.FreeSlots().empty());
  for (int i = 0; i < 3; ++i) l.Release(kDefaultQueue);
  EXPECT_THAT(l.FreeSlots(), ElementsAre(Pair(kDefaultQueue, 1)));
  l.SetLimit(100);
  EXPECT_EQ(l.limit(), 8);  // never above the configured cap
  l.SetLimit(0);
  EXPECT_EQ(l.limit(), 1);
}

TEST(ValidateLimits, NamesTheOption) {
  EXPECT_TRUE(ValidateLimits(WorkerOptions{}).ok());
  WorkerOptions o;
  o.max_concurrency = -1;
  EXPECT_THAT(ValidateLimits(o).message(), HasSubstr("worker.max_concurrency"));
  o = {};
  o.job_rate_limits["email"] = {.limit = 5, .period = absl::ZeroDuration()};
  EXPECT_THAT(ValidateLimits(o).message(), HasSubstr("job_rate_limits[email].period"));
  o = {};
  o.queue_rate_limits["q"] = {.limit = -2};
  EXPECT_THAT(ValidateLimits(o).message(), HasSubstr("queue_rate_limits[q].limit"));
  o = {};
  o.resource.enabled = true;
  o.resource.cpu_low = 0.95;
  EXPECT_THAT(ValidateLimits(o).message(), HasSubstr("cpu_low and cpu_high"));
  o = {};
  o.resource.enabled = true;
  o.resource.decrease_factor = 1;
  EXPECT_THAT(ValidateLimits(o).message(), HasSubstr("decrease_factor"));
  o = {};
  o.resource.enabled = true;
  o.resource.min_concurrency = 0;
  EXPECT_THAT(ValidateLimits(o).message(), HasSubstr("min_concurrency"));
}

}  // namespace
}  // namespace popqueue::core
