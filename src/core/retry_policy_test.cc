#include "core/retry_policy.h"

#include "gtest/gtest.h"

namespace popqueue::core {
namespace {

TEST(RetryDelay, ExponentialWithoutJitter) {
  RetryPolicy p{.base = absl::Seconds(1), .multiplier = 2, .cap = absl::Hours(1), .jitter = 0};
  EXPECT_EQ(RetryDelay(p, 1, absl::ZeroDuration(), 0.5), absl::Seconds(1));
  EXPECT_EQ(RetryDelay(p, 2, absl::ZeroDuration(), 0.5), absl::Seconds(2));
  EXPECT_EQ(RetryDelay(p, 5, absl::ZeroDuration(), 0.5), absl::Seconds(16));
}

TEST(RetryDelay, CappedAndNeverOverflows) {
  RetryPolicy p{.base = absl::Seconds(1), .multiplier = 2, .cap = absl::Minutes(10), .jitter = 0};
  EXPECT_EQ(RetryDelay(p, 20, absl::ZeroDuration(), 0), absl::Minutes(10));
  EXPECT_EQ(RetryDelay(p, 100000, absl::ZeroDuration(), 0), absl::Minutes(10));
}

TEST(RetryDelay, JitterOnlyShortens) {
  RetryPolicy p{.base = absl::Seconds(10), .multiplier = 2, .cap = absl::Hours(1), .jitter = 0.5};
  EXPECT_EQ(RetryDelay(p, 1, absl::ZeroDuration(), 0), absl::Seconds(10));
  EXPECT_EQ(RetryDelay(p, 1, absl::ZeroDuration(), 1), absl::Seconds(5));
  for (int i = 0; i < 1000; ++i) {
    absl::Duration d = RetryDelay(p, 1);
    EXPECT_GE(d, absl::Seconds(5));
    EXPECT_LE(d, absl::Seconds(10));
  }
}

TEST(RetryDelay, JobBaseOverridesPolicy) {
  RetryPolicy p{.base = absl::Seconds(10), .multiplier = 3, .cap = absl::Hours(1), .jitter = 0};
  EXPECT_EQ(RetryDelay(p, 2, absl::Milliseconds(100), 0), absl::Milliseconds(300));
}

}  // namespace
}  // namespace popqueue::core
