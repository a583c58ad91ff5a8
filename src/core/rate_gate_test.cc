#include "core/rate_gate.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "coord/local/local_coordinator.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"

namespace popqueue::core {
namespace {

using TestClock = ::popqueue::testing::FakeClock;

std::shared_ptr<Execution> Exec(JobId id, std::string name, std::string queue = "q") {
  return std::make_shared<Execution>(
      Job{.id = id, .queue = std::move(queue), .name = std::move(name)});
}

std::vector<JobId> Ids(const std::vector<std::shared_ptr<Execution>>& v) {
  std::vector<JobId> out;
  for (const auto& e : v) out.push_back(e->job.id);
  return out;
}

struct Fixture {
  explicit Fixture(WorkerOptions o)
      : coordinator(std::make_shared<coord::LocalCoordinator>(&clock)),
        gate(coordinator, o, &clock) {}
  TestClock clock;
  std::shared_ptr<coord::LocalCoordinator> coordinator;
  RateGate gate;
};

TEST(RateGate, InactiveWithoutLimits) {
  RateGate gate(nullptr, WorkerOptions{});
  EXPECT_FALSE(gate.active());
  EXPECT_EQ(gate.QueueAllowance("q", 7), 7);
  auto start = gate.Admit({Exec(1, "a"), Exec(2, "b")});
  EXPECT_EQ(start.size(), 2u);
  EXPECT_EQ(gate.NextWake(), absl::InfiniteFuture());
}

TEST(RateGate, QueueLimitGatesTheClaimAndKeepsUnusedTokens) {
  WorkerOptions o;
  o.queue_rate_limits["q"] = {.limit = 100, .period = absl::Seconds(1)};
  Fixture f(o);
  EXPECT_EQ(f.gate.QueueAllowance("other", 50), 50);  // not limited
  EXPECT_EQ(f.gate.QueueAllowance("q", 4), 4);
  f.gate.QueueClaimed("q", 4, 4);
  // 4 tokens = 40 ms of the limiter: refused until then.
  EXPECT_EQ(f.gate.QueueAllowance("q", 4), 0);
  EXPECT_TRUE(f.gate.QueueBlocked("q"));
  EXPECT_EQ(f.gate.NextWake(), f.clock.Now() + absl::Milliseconds(40));
  f.clock.Advance(absl::Milliseconds(40));
  EXPECT_EQ(f.gate.QueueAllowance("q", 20), 10);  // at most 100 ms worth at once
  // The queue had only 3 jobs: 7 tokens stay as credit.
  f.gate.QueueClaimed("q", 10, 3);
  EXPECT_EQ(f.gate.QueueAllowance("q", 5), 5);
  f.gate.QueueClaimed("q", 5, 0);
  // Past the credit's time it lapses; a dry queue asks one token at a time.
  f.clock.Advance(absl::Seconds(1));
  EXPECT_EQ(f.gate.QueueAllowance("q", 5), 1);
  f.gate.QueueClaimed("q", 1, 1);  // got all it asked: not dry any more
  f.clock.Advance(absl::Milliseconds(10));
  EXPECT_EQ(f.gate.QueueAllowance("q", 5), 5);
}

TEST(RateGate, NameLimitHoldsJobsInClaimOrderWithoutBlockingOthers) {
  WorkerOptions o;
  o.job_rate_limits["slow"] = {.limit = 20, .period = absl::Seconds(1)};
  Fixture f(o);
  auto start = f.gate.Admit({Exec(1, "slow"), Exec(2, "fast"), Exec(3, "slow"), Exec(4, "slow"),
                             Exec(5, "fast"), Exec(6, "slow")});
  EXPECT_EQ(Ids(start), (std::vector<JobId>{1, 2, 3, 5}));
  EXPECT_EQ(f.gate.held(), 2);
  // A later claim of the name queues behind the held ones.
  f.clock.Advance(absl::Seconds(1));
  start = f.gate.Admit({Exec(7, "slow"), Exec(8, "fast")});
  EXPECT_EQ(Ids(start), (std::vector<JobId>{8}));
  EXPECT_EQ(f.gate.held(), 3);

  std::map<std::string, int> free{{"q", 1}};
  std::vector<std::shared_ptr<Execution>> cancelled;
  start = f.gate.ReleaseDue(free, cancelled);
  EXPECT_EQ(Ids(start), (std::vector<JobId>{4}));  // one free slot
  EXPECT_EQ(free["q"], 0);
  free["q"] = 5;
  start = f.gate.ReleaseDue(free, cancelled);
  EXPECT_TRUE(start.empty());  // the take of job 4 spent 50 ms
  EXPECT_EQ(f.gate.NextWake(), f.clock.Now() + absl::Milliseconds(50));
  f.clock.Advance(absl::Milliseconds(50));
  start = f.gate.ReleaseDue(free, cancelled);
  EXPECT_EQ(Ids(start), (std::vector<JobId>{6, 7}));
  EXPECT_EQ(f.gate.held(), 0);
  EXPECT_TRUE(cancelled.empty());
}

TEST(RateGate, HeldJobsThatEndedAreDroppedAndCancelledOnesReturned) {
  WorkerOptions o;
  o.job_rate_limits["slow"] = {.limit = 1, .period = absl::Seconds(1)};
  Fixture f(o);
  std::vector<std::shared_ptr<Execution>> all = {Exec(1, "slow"), Exec(2, "slow"), Exec(3, "slow"),
                                                 Exec(4, "slow")};
  EXPECT_EQ(f.gate.Admit(all).size(), 1u);
  all[1]->Finalize();  // the heartbeater lost its lease
  all[2]->RequestStop(StopReason::kCancelRequested);
  std::map<std::string, int> free{{"q", 0}};
  std::vector<std::shared_ptr<Execution>> cancelled;
  EXPECT_TRUE(f.gate.ReleaseDue(free, cancelled).empty());
  EXPECT_EQ(Ids(cancelled), (std::vector<JobId>{3}));
  EXPECT_EQ(f.gate.held(), 1);
  EXPECT_EQ(Ids(f.gate.TakeAllHeld()), (std::vector<JobId>{4}));
  EXPECT_EQ(f.gate.held(), 0);
}

TEST(RateGate, FullHoldStopsClaimsOfQueuesThatHold) {
  WorkerOptions o;
  o.job_rate_limits["slow"] = {.limit = 1, .period = absl::Seconds(10)};
  o.max_held_jobs = 2;
  Fixture f(o);
  f.gate.Admit({Exec(1, "slow"), Exec(2, "slow"), Exec(3, "slow")});
  EXPECT_EQ(f.gate.held(), 2);
  EXPECT_EQ(f.gate.QueueAllowance("q", 5), 0);
  EXPECT_EQ(f.gate.QueueAllowance("other", 5), 5);
}

}  // namespace
}  // namespace popqueue::core
