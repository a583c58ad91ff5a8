// Recurring jobs: each fire time is enqueued exactly once however many
// queues (processes) define the schedule, with an injected clock.
#include <memory>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

using ::testing::HasSubstr;

int64_t CountJobs(Queue& q) {
  auto counts = q.CountByState();
  if (!counts.ok()) return -1;
  int64_t n = 0;
  for (const auto& c : *counts) {
    for (const auto& [s, k] : c.by_state) n += k;
  }
  return n;
}

QueueConfig Config(const testing::TempDir& dir, Clock* clock) {
  QueueConfig c{.db_url = dir.SqliteUrl(), .clock = clock};
  c.worker.handle_signals = false;
  c.worker.poll_interval = absl::Milliseconds(20);
  return c;
}

TEST(Cron, ThreeRacingQueuesEnqueueEachFireOnce) {
  testing::TempDir dir;
  // 2027-01-01T00:00:00Z
  testing::FakeClock clock(absl::FromUnixSeconds(1798761600));
  std::vector<std::unique_ptr<Queue>> queues;
  for (int i = 0; i < 3; ++i) {
    queues.push_back(std::make_unique<Queue>(Config(dir, &clock)));
    ASSERT_TRUE(queues.back()->status().ok());
    ASSERT_TRUE(
        queues.back()->Every("report", "*/5 * * * *", "{}", {.job = {.queue = "cron"}}).ok());
  }
  for (auto& q : queues) ASSERT_TRUE(q->StartInBackground().ok());
  for (int fire = 1; fire <= 6; ++fire) {
    clock.Advance(absl::Minutes(5));
    ASSERT_TRUE(testing::Eventually([&] { return CountJobs(*queues[0]) >= fire; }))
        << "fire " << fire;
  }
  // Give the slower schedulers a chance to (wrongly) add duplicates.
  for (auto& q : queues) q->Stop();
  auto page = queues[0]->ListJobs({.queue = "cron", .limit = 100});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 6u);
  std::set<absl::Time> fire_times;
  for (const Job& j : page->jobs) {
    EXPECT_EQ(j.name, "report");
    fire_times.insert(j.run_at);
  }
  EXPECT_EQ(fire_times.size(), 6u);
  EXPECT_EQ(*fire_times.begin(), absl::FromUnixSeconds(1798761600) + absl::Minutes(5));
}

TEST(Cron, MissedFiresPolicy) {
  testing::TempDir dir;
  // 2027-01-01T10:30:00Z: the 10:00 fire of "@hourly" was missed.
  testing::FakeClock clock(absl::FromUnixSeconds(1798761600) + absl::Hours(10) + absl::Minutes(30));
  Queue skip(Config(dir, &clock));
  ASSERT_TRUE(skip.Every("skipper", "@hourly", "", {.job = {.queue = "skip"}}).ok());
  Queue once(Config(dir, &clock));
  ASSERT_TRUE(once.Every("catcher", "@hourly", "",
                         {.job = {.queue = "once"}, .missed = MissedFires::kRunOnce})
                  .ok());
  ASSERT_TRUE(skip.StartInBackground().ok());
  ASSERT_TRUE(once.StartInBackground().ok());
  ASSERT_TRUE(testing::Eventually([&] {
    auto p = once.ListJobs({.queue = "once"});
    return p.ok() && p->jobs.size() == 1;
  }));
  auto caught = once.ListJobs({.queue = "once"});
  EXPECT_EQ(caught->jobs[0].run_at, absl::FromUnixSeconds(1798761600) + absl::Hours(10));
  EXPECT_TRUE(skip.ListJobs({.queue = "skip"})->jobs.empty());
  clock.Advance(absl::Minutes(30));  // 11:00: both fire
  ASSERT_TRUE(
      testing::Eventually([&] { return skip.ListJobs({.queue = "skip"})->jobs.size() == 1; }));
  skip.Stop();
  once.Stop();
}

TEST(Cron, InvalidSchedulesAreRefused) {
  testing::TempDir dir;
  Queue q(Config(dir, Clock::Real()));
  EXPECT_THAT(q.Every("x", "* * * * 9").message(), HasSubstr("field 5 (day of week)"));
  EXPECT_THAT(q.Every("x", "@daily", "", {.time_zone = "Nowhere/City"}).message(),
              HasSubstr("unknown time zone"));
  EXPECT_THAT(q.Every("", "@daily").message(), HasSubstr("name"));
  ASSERT_TRUE(q.Every("x", "@daily").ok());
  EXPECT_EQ(q.Every("x", "@daily").code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace popqueue
