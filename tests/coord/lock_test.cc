// Conformance: locks with fencing tokens.
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/mutex.h"
#include "coord_conformance.h"

namespace popqueue::coord::testing {
namespace {

LockAcquireParams Acq(const std::string& owner, absl::Duration ttl = absl::Seconds(30),
                      const std::string& name = "leader:maintenance") {
  return LockAcquireParams{.name = name, .owner = owner, .ttl = ttl};
}

TEST_P(CoordConformanceTest, LockIsExclusiveAndReentrantForItsHolder) {
  auto a = c().LockAcquire(Acq("a"));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->has_value());
  EXPECT_GT((*a)->token, 0);
  EXPECT_EQ((*a)->owner, "a");
  EXPECT_EQ((*a)->name, "leader:maintenance");

  auto b = Peer()->LockAcquire(Acq("b"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->has_value());

  auto again = c().LockAcquire(Acq("a"));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->token, (*a)->token);  // same holding, same token
}

TEST_P(CoordConformanceTest, OnlyTheHolderExtendsAndReleases) {
  auto a = c().LockAcquire(Acq("a"));
  ASSERT_TRUE(a.ok() && a->has_value()) << a.status();
  Lock held = **a;
  Lock wrong_token = held;
  wrong_token.token += 1;
  Lock wrong_owner = held;
  wrong_owner.owner = "b";

  auto p = Peer();
  EXPECT_EQ(*p->LockExtend({.lock = wrong_token, .ttl = absl::Seconds(30)}), false);
  EXPECT_EQ(*p->LockExtend({.lock = wrong_owner, .ttl = absl::Seconds(30)}), false);
  EXPECT_EQ(*c().LockExtend({.lock = held, .ttl = absl::Seconds(30)}), true);

  EXPECT_TRUE(p->LockRelease(wrong_token).ok());  // a no-op
  EXPECT_TRUE(p->LockRelease(wrong_owner).ok());
  EXPECT_FALSE(p->LockAcquire(Acq("b"))->has_value());

  ASSERT_TRUE(c().LockRelease(held).ok());
  EXPECT_EQ(*c().LockExtend({.lock = held, .ttl = absl::Seconds(30)}), false);
  auto b = p->LockAcquire(Acq("b"));
  ASSERT_TRUE(b.ok() && b->has_value()) << b.status();
  EXPECT_GT((*b)->token, held.token);
  EXPECT_TRUE(c().LockRelease(held).ok());  // stale release: still b's
  EXPECT_FALSE(c().LockAcquire(Acq("a"))->has_value());
}

TEST_P(CoordConformanceTest, TokensStrictlyIncrease) {
  int64_t last = 0;
  for (int i = 0; i < 6; ++i) {
    auto l = (i % 2 ? *Peer() : c()).LockAcquire(Acq(i % 2 ? "b" : "a"));
    ASSERT_TRUE(l.ok() && l->has_value()) << l.status();
    EXPECT_GT((*l)->token, last);
    last = (*l)->token;
    ASSERT_TRUE(c().LockRelease(**l).ok());
  }
}

TEST_P(CoordConformanceTest, LockExpiresWithoutExtend) {
  const absl::Duration ttl = std::max(Res(), absl::Milliseconds(100));
  auto a = c().LockAcquire(Acq("a", ttl));
  ASSERT_TRUE(a.ok() && a->has_value()) << a.status();
  // Waiting for time to pass: there is nothing to signal.
  const absl::Time deadline = absl::Now() + ttl + Res() + absl::Seconds(3);
  std::optional<Lock> b;
  while (!b && absl::Now() < deadline) {
    auto r = Peer()->LockAcquire(Acq("b"));
    ASSERT_TRUE(r.ok()) << r.status();
    b = *r;
    if (!b) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(b.has_value()) << "the lock did not expire";
  EXPECT_GT(b->token, (*a)->token);
  EXPECT_EQ(*c().LockExtend({.lock = **a, .ttl = absl::Seconds(30)}), false);
}

TEST_P(CoordConformanceTest, LockNamesAndNamespacesAreIndependent) {
  ASSERT_TRUE(c().LockAcquire(Acq("a"))->has_value());
  EXPECT_TRUE(Peer()->LockAcquire(Acq("b", absl::Seconds(30), "other"))->has_value());
  auto elsewhere = GetParam().open(url_, UniqueNamespace());
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.status();
  EXPECT_TRUE((*elsewhere)->LockAcquire(Acq("b"))->has_value());
}

TEST_P(CoordConformanceTest, LockRejectsBadParams) {
  EXPECT_TRUE(absl::IsInvalidArgument(c().LockAcquire(Acq("")).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(c().LockAcquire(Acq("a", absl::ZeroDuration())).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      c().LockAcquire(Acq("a", absl::Seconds(1), std::string(201, 'x'))).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      c().LockExtend({.lock = {.name = "n", .owner = "a", .token = 0}, .ttl = absl::Seconds(1)})
          .status()));
}

// Threads, each with its own connection (Peer), contend for one lock: never
// two holders at once, and each new holder's token is larger.
TEST_P(CoordConformanceTest, ThreadsNeverHoldTogether) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 15;
  std::atomic<int> holders{0};
  std::atomic<int> overlaps{0};
  Mutex mu;
  std::vector<int64_t> tokens;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::shared_ptr<Coordinator> coord = Peer();
    threads.emplace_back([&, coord, t] {
      const std::string me = absl::StrCat("thread", t);
      for (int i = 0; i < kRounds;) {
        auto l = coord->LockAcquire(Acq(me, absl::Seconds(30), "contended"));
        if (!l.ok() || !l->has_value()) {
          absl::SleepFor(absl::Microseconds(200));  // held elsewhere: poll
          continue;
        }
        if (holders.fetch_add(1) != 0) overlaps++;
        {
          MutexLock lock(&mu);
          tokens.push_back((*l)->token);
        }
        absl::SleepFor(absl::Microseconds(100));
        holders.fetch_sub(1);
        EXPECT_TRUE(coord->LockRelease(**l).ok());
        ++i;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(overlaps.load(), 0);
  ASSERT_EQ(tokens.size(), size_t{kThreads * kRounds});
  EXPECT_TRUE(std::is_sorted(tokens.begin(), tokens.end()));
  EXPECT_EQ(std::adjacent_find(tokens.begin(), tokens.end()), tokens.end());
}

}  // namespace
}  // namespace popqueue::coord::testing
