// Maintenance over a real SQLite store (the store elects the leader): one
// leader among three processes' services at every sample, a successor once
// the leader stops, the rescuer and the cleaner rounds.
#include "core/maintenance.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/support/sqlite_store_test.h"

namespace popqueue::core {
namespace {

class MaintenanceTest : public testing::SqliteStoreTest {
 protected:
  void Insert(JobId id, int max_attempts) {
    store::JobInsertManyParams insert{.now = absl::Now()};
    insert.jobs.push_back(store::NewJob{.id = id,
                                        .queue = "default",
                                        .name = "work",
                                        .max_attempts = max_attempts,
                                        .run_at = absl::Now() - absl::Seconds(1)});
    ASSERT_TRUE(store_->JobInsertMany(insert).ok());
  }
  std::vector<Job> Claim(int n, absl::Time now, absl::Duration lease) {
    auto claimed = store_->JobClaim({.queues = {"default"},
                                     .worker_id = "w",
                                     .limit = n,
                                     .now = now,
                                     .lease = lease,
                                     .lease_token = 5});
    EXPECT_TRUE(claimed.ok()) << claimed.status();
    return claimed.ok() ? *claimed : std::vector<Job>{};
  }
  JobState StateOf(JobId id) {
    auto job = store_->JobGet({.id = id});
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->state : JobState::kAvailable;
  }
};

TEST_F(MaintenanceTest, OneLeaderAtATimeAndASuccessorWhenItStops) {
  WorkerOptions options;
  options.rescue_interval = absl::Milliseconds(50);
  options.leader_ttl = absl::Seconds(5);  // a resignation frees it at once
  std::vector<std::unique_ptr<Maintenance>> services;
  for (int i = 0; i < 3; ++i) {
    services.push_back(std::make_unique<Maintenance>(store_, Clock::Real(), options,
                                                     "worker-" + std::to_string(i)));
    services.back()->Start();
  }
  auto leaders = [&] {
    int n = 0;
    for (const auto& s : services) n += s != nullptr && s->is_leader() ? 1 : 0;
    return n;
  };
  int seen_one = 0;
  for (int i = 0; i < 60; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    const int n = leaders();
    ASSERT_LE(n, 1) << "two leaders at sample " << i;
    seen_one += n;
  }
  ASSERT_GT(seen_one, 0) << "nobody took the leadership";
  size_t leader = 0;
  while (!services[leader]->is_leader()) leader = (leader + 1) % services.size();
  services[leader]->Stop();  // resigns
  services[leader].reset();
  bool successor = false;
  for (int i = 0; i < 100 && !successor; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_LE(leaders(), 1);
    successor = leaders() == 1;
  }
  EXPECT_TRUE(successor) << "no successor within 2 s of a resignation";
  for (auto& s : services) {
    if (s) s->Stop();
  }
}

TEST_F(MaintenanceTest, RescueReturnsExpiredLeasesAndDeadLettersTheLastAttempt) {
  Insert(1, /*max_attempts=*/3);
  Insert(2, /*max_attempts=*/1);
  Insert(3, /*max_attempts=*/3);
  const absl::Time now = absl::Now();
  ASSERT_EQ(Claim(2, now, absl::Seconds(1)).size(), 2u);   // 1 and 2: short leases
  ASSERT_EQ(Claim(1, now, absl::Minutes(10)).size(), 1u);  // 3: a live lease
  std::vector<JobEvent> events;
  auto emit = [&](const JobEvent& e) { events.push_back(e); };
  auto none = Maintenance::Rescue(*store_, now, emit);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "nothing has expired yet";
  EXPECT_TRUE(events.empty());
  auto rescued = Maintenance::Rescue(*store_, now + absl::Seconds(5), emit);
  ASSERT_TRUE(rescued.ok()) << rescued.status();
  EXPECT_EQ(rescued->size(), 2u);
  EXPECT_EQ(StateOf(1), JobState::kRetryable);
  EXPECT_EQ(StateOf(2), JobState::kDead);
  EXPECT_EQ(StateOf(3), JobState::kRunning);
  // One kDead event, for the job the rescue dead-lettered, read back in full.
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, JobEvent::Kind::kDead);
  EXPECT_EQ(events[0].job.id, 2);
  EXPECT_EQ(events[0].job.name, "work");
  EXPECT_EQ(events[0].job.state, JobState::kDead);
  EXPECT_EQ(events[0].job.attempt, 1);
  EXPECT_EQ(events[0].job.max_attempts, 1);
  EXPECT_NE(events[0].error.find("lease expired (worker w)"), std::string::npos) << events[0].error;
  // Nothing is left to rescue, so nothing more is raised.
  auto again = Maintenance::Rescue(*store_, now + absl::Seconds(6), emit);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(events.size(), 1u);
}

TEST_F(MaintenanceTest, CleanDeletesFinishedJobsPastTheirRetentionOnly) {
  for (JobId id : {11, 12, 13}) Insert(id, 1);
  const absl::Time then = absl::Now();
  std::vector<Job> jobs = Claim(3, then, absl::Minutes(1));
  ASSERT_EQ(jobs.size(), 3u);
  store::JobCompleteManyParams complete{.now = then};
  for (const Job& j : jobs) complete.items.push_back({.id = j.id, .lease_token = j.lease_token});
  ASSERT_TRUE(store_->JobCompleteMany(complete).ok());
  WorkerOptions options;
  options.retain_completed = absl::Hours(1);
  auto early = Maintenance::Clean(*store_, options, then + absl::Minutes(30));
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(*early, 0);
  EXPECT_EQ(StateOf(11), JobState::kCompleted);
  options.retain_completed = absl::ZeroDuration();  // keep forever
  auto forever = Maintenance::Clean(*store_, options, then + absl::Hours(2));
  ASSERT_TRUE(forever.ok());
  EXPECT_EQ(*forever, 0);
  options.retain_completed = absl::Hours(1);
  auto late = Maintenance::Clean(*store_, options, then + absl::Hours(2));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(*late, 3);
  EXPECT_EQ(store_->JobGet({.id = 11}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace popqueue::core
