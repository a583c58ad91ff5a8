// Conformance: wake-ups (an optional capability).
#include <string>

#include "absl/time/clock.h"
#include "common/mutex.h"
#include "coord_conformance.h"

namespace popqueue::coord::testing {
namespace {

// Collects the queues a subscriber was woken for.
class Woken {
 public:
  void Add(const std::string& q) {
    MutexLock lock(&mu_);
    seen_.push_back(q);
  }
  bool Saw(const std::string& q) {
    MutexLock lock(&mu_);
    return std::find(seen_.begin(), seen_.end(), q) != seen_.end();
  }
  // Waits (signalled by Add) up to `timeout` for `q`.
  bool WaitFor(const std::string& q, absl::Duration timeout) {
    MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(seen_.begin(), seen_.end(), q) != seen_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  }

 private:
  Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_P(CoordConformanceTest, WakePublishReachesSubscribers) {
  if (!c().SupportsWake()) {
    EXPECT_TRUE(absl::IsUnimplemented(c().WakePublish("mail")));
    EXPECT_TRUE(absl::IsUnimplemented(c().WakeSubscribe([](const std::string&) {}).status()));
    GTEST_SKIP() << GetParam().name << " has no wake-ups (documented)";
  }
  std::shared_ptr<Coordinator> listener = Peer();
  Woken a, b;
  auto ha = listener->WakeSubscribe([&](const std::string& q) { a.Add(q); });
  auto hb = listener->WakeSubscribe([&](const std::string& q) { b.Add(q); });
  ASSERT_TRUE(ha.ok() && hb.ok()) << ha.status() << hb.status();

  // A subscription becomes active asynchronously (pub/sub): publish until
  // the message arrives, which is what makes it observable at all.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool got = false;
  while (!got && absl::Now() < deadline) {
    ASSERT_TRUE(c().WakePublish("mail").ok());
    got = a.WaitFor("mail", absl::Milliseconds(100));
  }
  ASSERT_TRUE(got) << "no wake-up within 10 s";
  EXPECT_TRUE(b.WaitFor("mail", absl::Seconds(5)));

  // After WakeUnsubscribe returns, that callback sees nothing more.
  listener->WakeUnsubscribe(*ha);
  got = false;
  while (!got && absl::Now() < deadline + absl::Seconds(10)) {
    ASSERT_TRUE(c().WakePublish("later").ok());
    got = b.WaitFor("later", absl::Milliseconds(100));
  }
  ASSERT_TRUE(got);
  EXPECT_FALSE(a.Saw("later"));
  listener->WakeUnsubscribe(*hb);
}

TEST_P(CoordConformanceTest, WakeDoesNotCrossNamespaces) {
  if (!c().SupportsWake() || GetParam().url_env.empty()) {
    GTEST_SKIP() << "needs wake-ups across coordinators";
  }
  auto other = GetParam().open(url_, UniqueNamespace());
  ASSERT_TRUE(other.ok()) << other.status();
  Woken mine, theirs;
  std::shared_ptr<Coordinator> peer = Peer();
  auto hm = peer->WakeSubscribe([&](const std::string& q) { mine.Add(q); });
  auto ht = (*other)->WakeSubscribe([&](const std::string& q) { theirs.Add(q); });
  ASSERT_TRUE(hm.ok() && ht.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool got = false;
  while (!got && absl::Now() < deadline) {
    ASSERT_TRUE(c().WakePublish("q1").ok());
    got = mine.WaitFor("q1", absl::Milliseconds(100));
  }
  ASSERT_TRUE(got);
  // `other` subscribed before the first publish, and its subscription is
  // confirmed once it receives its own namespace's message.
  got = false;
  while (!got && absl::Now() < deadline + absl::Seconds(10)) {
    ASSERT_TRUE((*other)->WakePublish("q2").ok());
    got = theirs.WaitFor("q2", absl::Milliseconds(100));
  }
  ASSERT_TRUE(got);
  EXPECT_FALSE(theirs.Saw("q1"));
  EXPECT_FALSE(mine.Saw("q2"));
  peer->WakeUnsubscribe(*hm);
  (*other)->WakeUnsubscribe(*ht);
}

}  // namespace
}  // namespace popqueue::coord::testing
