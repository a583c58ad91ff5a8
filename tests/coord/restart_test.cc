// Reconnects: the coordinator keeps working across a restart of its server,
// without being reopened. While the server is down calls fail with
// kUnavailable (callers retry); afterwards everything works again.
//
// Stops and starts the shared test servers (POPQUEUE_TEST_<X>_{STOP,START}
// from scripts/lib/services.sh), so it runs alone (RUN_SERIAL).
#include <cstdlib>
#include <ostream>
#include <string>

#include "absl/time/clock.h"
#include "common/mutex.h"
#include "coord_conformance.h"

namespace popqueue::coord::testing {
namespace {

struct Server {
  std::string name;
  std::string env;  // POPQUEUE_TEST_<X>
};
inline std::ostream& operator<<(std::ostream& os, const Server& s) { return os << s.name; }

class RestartTest : public ::testing::TestWithParam<Server> {
 protected:
  void SetUp() override {
    const std::string url_var = GetParam().env + "_URL";
    POPQUEUE_REQUIRE_URL(url_var);
    url_ = EnvOr(url_var.c_str());
    stop_ = EnvOr((GetParam().env + "_STOP").c_str());
    start_ = EnvOr((GetParam().env + "_START").c_str());
    ASSERT_FALSE(stop_.empty() || start_.empty())
        << GetParam().env << "_STOP/_START are not set: run under scripts/with-services";
    auto c = OpenCoordinator(url_, UniqueNamespace("restart"));
    ASSERT_TRUE(c.ok()) << c.status();
    coord_ = *c;
  }
  void TearDown() override {
    if (down_) Run(start_);
  }
  void Run(const std::string& script) {
    ASSERT_EQ(std::system(script.c_str()), 0) << script;
    down_ = script == stop_;
  }
  // The server just came back: calls succeed again within a few seconds
  // (the clients' reconnect backoff is at most 2 s).
  template <typename F>
  void Eventually(F call) {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    absl::Status last;
    while (absl::Now() < deadline) {
      last = call();
      if (last.ok()) return;
      absl::SleepFor(absl::Milliseconds(100));  // waiting out the backoff
    }
    FAIL() << "still failing 15 s after the restart: " << last;
  }

  std::string url_, stop_, start_;
  bool down_ = false;
  std::shared_ptr<Coordinator> coord_;
};

TEST_P(RestartTest, UnavailableDuringOutageThenWorksAgain) {
  Coordinator& c = *coord_;
  auto before = c.LockAcquire({.name = "l", .owner = "a", .ttl = absl::Seconds(60)});
  ASSERT_TRUE(before.ok() && before->has_value()) << before.status();
  ASSERT_TRUE(
      c.WorkerRegister({.worker = {.id = "w1", .host = "h"}, .ttl = absl::Seconds(60)}).ok());

  Run(stop_);
  auto during = c.LockAcquire({.name = "other", .owner = "a", .ttl = absl::Seconds(5)});
  EXPECT_TRUE(absl::IsUnavailable(during.status())) << during.status();
  auto rate = c.RateLimitTake({.key = "k", .limit = 10, .period = absl::Seconds(1)});
  EXPECT_TRUE(absl::IsUnavailable(rate.status())) << rate.status();
  EXPECT_TRUE(absl::IsUnavailable(c.WorkerList().status()));
  Run(start_);

  Eventually([&] { return c.WorkerList().status(); });
  // Lock tokens still increase across the restart (Redis: AOF and TIME;
  // memcached: its state is gone, tokens resume from the clock).
  auto after = c.LockAcquire({.name = "l2", .owner = "b", .ttl = absl::Seconds(60)});
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_GT((*after)->token, (*before)->token);
  auto take = c.RateLimitTake({.key = "k2", .limit = 10, .period = absl::Seconds(1)});
  ASSERT_TRUE(take.ok()) << take.status();
  EXPECT_TRUE(take->allowed);
  // The registry: Redis kept it (AOF); memcached lost it, and a heartbeat
  // says so (kNotFound), which makes a WorkerPresence register again.
  absl::Status beat =
      c.WorkerHeartbeat({.worker_id = "w1", .running = 0, .ttl = absl::Seconds(60)});
  EXPECT_TRUE(beat.ok() || absl::IsNotFound(beat)) << beat;
}

TEST_P(RestartTest, WakeSubscriptionSurvivesRestart) {
  if (!coord_->SupportsWake()) GTEST_SKIP() << GetParam().name << " has no wake-ups";
  Mutex mu;
  std::vector<std::string> seen;
  auto handle = coord_->WakeSubscribe([&](const std::string& q) {
    MutexLock lock(&mu);
    seen.push_back(q);
  });
  ASSERT_TRUE(handle.ok()) << handle.status();
  auto wait_for = [&](const std::string& q, absl::Duration timeout) {
    MutexLock lock(&mu);
    auto has = [&] { return std::find(seen.begin(), seen.end(), q) != seen.end(); };
    return mu.AwaitWithTimeout(absl::Condition(&has), timeout);
  };
  auto publish_until_seen = [&](const std::string& q) {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (absl::Now() < deadline) {
      (void)coord_->WakePublish(q);  // may fail while reconnecting
      if (wait_for(q, absl::Milliseconds(100))) return true;
    }
    return false;
  };
  ASSERT_TRUE(publish_until_seen("before"));
  Run(stop_);
  EXPECT_TRUE(absl::IsUnavailable(coord_->WakePublish("lost")));
  Run(start_);
  // After reconnecting the subscriber reports possible losses with "".
  EXPECT_TRUE(publish_until_seen("after"));
  EXPECT_TRUE(wait_for("", absl::Seconds(5)));
  coord_->WakeUnsubscribe(*handle);
}

std::vector<Server> Servers() {
  std::vector<Server> s;
#if POPQUEUE_WITH_REDIS
  s.push_back({"redis", "POPQUEUE_TEST_REDIS"});
#endif
#if POPQUEUE_WITH_MEMCACHED
  s.push_back({"memcached", "POPQUEUE_TEST_MEMCACHED"});
#endif
  return s;
}

INSTANTIATE_TEST_SUITE_P(Servers, RestartTest, ::testing::ValuesIn(Servers()),
                         [](const ::testing::TestParamInfo<Server>& i) { return i.param.name; });

}  // namespace
}  // namespace popqueue::coord::testing
