// The handler outcomes of popqueue/outcome.h end to end on the embedded
// SQLite store: snooze (runs again later without using an attempt), discard
// (cancelled, never retried) and fail-without-retry (dead at once), and
// what wins over them (a requested cancel, the timeout).
#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/outcome.h"
#include "popqueue/queue.h"
#include "tests/integration/event_log.h"
#include "tests/support/queue_config.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

using testing::EventLog;
using testing::FastQueueConfig;
using ::testing::HasSubstr;
using testing::TempDir;

TEST(Outcomes, SnoozeRunsAgainLaterWithoutUsingAnAttempt) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/0));  // one attempt only
  EventLog log;
  Mutex mu;
  std::vector<absl::Time> calls;
  std::vector<int> attempts;
  ASSERT_TRUE(queue
                  .Define("poll",
                          [&](JobContext& ctx) -> absl::Status {
                            MutexLock lock(&mu);
                            calls.push_back(absl::Now());
                            attempts.push_back(ctx.job().attempt);
                            if (calls.size() < 3) return Snooze(absl::Milliseconds(200));
                            ctx.SetResult("ready");
                            return absl::OkStatus();
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("poll", "");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 1));
  queue.Stop();

  MutexLock lock(&mu);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_GE(calls[1] - calls[0], absl::Milliseconds(200));
  EXPECT_GE(calls[2] - calls[1], absl::Milliseconds(200));
  EXPECT_THAT(attempts, ::testing::ElementsAre(1, 1, 1));  // never counted
  std::vector<JobEvent> snoozed = log.Of(JobEvent::Kind::kSnoozed);
  ASSERT_EQ(snoozed.size(), 2u);
  EXPECT_GT(snoozed[0].next_run_at, snoozed[0].job.picked_at.value_or(absl::InfiniteFuture()));
  EXPECT_EQ(log.Count(JobEvent::Kind::kRetrying), 0);
  auto job = queue.GetJob(r->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kCompleted);
  EXPECT_EQ(job->attempt, 1);
  EXPECT_TRUE(job->errors.empty());
  EXPECT_EQ(job->result, "ready");
}

TEST(Outcomes, SnoozedJobWaitsScheduled) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/2));
  EventLog log;
  ASSERT_TRUE(queue.Define("later", [](JobContext&) { return Snooze(absl::Hours(1)); }).ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("later", "");
  ASSERT_TRUE(r.ok());
  const absl::Time before = absl::Now();
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kSnoozed, 1));
  queue.Stop();
  auto job = queue.GetJob(r->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kScheduled);
  EXPECT_EQ(job->attempt, 0);
  EXPECT_TRUE(job->errors.empty());
  EXPECT_GE(job->run_at, before + absl::Hours(1));
  EXPECT_LE(job->run_at, absl::Now() + absl::Hours(1));
}

TEST(Outcomes, DiscardEndsCancelledWithoutRetry) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/3));
  EventLog log;
  std::atomic<int> calls{0};
  ASSERT_TRUE(queue
                  .Define("sync",
                          [&](JobContext&) -> absl::Status {
                            ++calls;
                            return Discard("account deleted");
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("sync", "");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCancelled, 1));
  queue.Stop();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(log.Count(JobEvent::Kind::kRetrying), 0);
  auto job = queue.GetJob(r->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kCancelled);
  EXPECT_TRUE(job->finished_at.has_value());
  ASSERT_EQ(job->errors.size(), 1u);
  EXPECT_EQ(job->errors[0].message, "discarded: account deleted");
}

TEST(Outcomes, FailWithoutRetryDiesAtOnce) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/3));
  EventLog log;
  std::atomic<int> calls{0};
  ASSERT_TRUE(queue
                  .Define("parse",
                          [&](JobContext&) -> absl::Status {
                            ++calls;
                            return FailWithoutRetry("payload is not JSON");
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("parse", "{");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kDead, 1));
  queue.Stop();
  EXPECT_EQ(calls, 1);
  auto job = queue.GetJob(r->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kDead);
  EXPECT_EQ(job->attempt, 1);
  EXPECT_EQ(job->max_attempts, 4);
  ASSERT_EQ(job->errors.size(), 1u);
  EXPECT_EQ(job->errors[0].message, "payload is not JSON");
}

TEST(Outcomes, OrdinaryFailuresKeepTheirMeaning) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/1));
  EventLog log;
  ASSERT_TRUE(queue.Define("bool", [](const Job&) { return false; }).ok());
  // The message of an outcome in a new status is an ordinary failure.
  ASSERT_TRUE(queue
                  .Define("rewrapped",
                          [](JobContext&) -> absl::Status {
                            return absl::CancelledError(Discard("x").message());
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto a = queue.Enqueue("bool", "");
  auto b = queue.Enqueue("rewrapped", "");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kDead, 2));
  queue.Stop();
  EXPECT_EQ(log.Count(JobEvent::Kind::kRetrying), 2);
  EXPECT_EQ(queue.GetJob(a->id)->attempt, 2);
  EXPECT_EQ(queue.GetJob(b->id)->attempt, 2);
}

TEST(Outcomes, CancelWinsOverSnooze) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/3));
  EventLog log;
  absl::Notification started;
  ASSERT_TRUE(queue
                  .Define("long",
                          [&](JobContext& ctx) -> absl::Status {
                            started.Notify();
                            while (!ctx.cancelled()) absl::SleepFor(absl::Milliseconds(5));
                            return Snooze(absl::Seconds(1));
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("long", "");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(queue.Cancel(r->id).ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCancelled, 1));
  queue.Stop();
  EXPECT_EQ(queue.GetJob(r->id)->state, JobState::kCancelled);
  EXPECT_EQ(log.Count(JobEvent::Kind::kSnoozed), 0);
}

TEST(Outcomes, TimeoutWinsOverSnooze) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/0));
  EventLog log;
  ASSERT_TRUE(queue
                  .Define("slow",
                          [](JobContext& ctx) -> absl::Status {
                            while (!ctx.cancelled()) absl::SleepFor(absl::Milliseconds(5));
                            return Snooze(absl::Seconds(1));
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("slow", "", {.timeout = absl::Milliseconds(100)});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kDead, 1));
  queue.Stop();
  auto job = queue.GetJob(r->id);
  EXPECT_EQ(job->state, JobState::kDead);
  EXPECT_THAT(job->errors.at(0).message, HasSubstr("timed out"));
  EXPECT_EQ(log.Count(JobEvent::Kind::kSnoozed), 0);
}

}  // namespace
}  // namespace popqueue
