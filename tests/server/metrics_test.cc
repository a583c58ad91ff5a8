#include "server/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using ::testing::HasSubstr;

JobEvent Event(JobEvent::Kind kind, const std::string& name, absl::Duration elapsed) {
  JobEvent e;
  e.kind = kind;
  e.job.name = name;
  e.elapsed = elapsed;
  return e;
}

TEST(Metrics, CountsHistogramAndThroughput) {
  testing::FakeClock clock(absl::FromUnixSeconds(1800000000));  // :20 past a minute
  Metrics m(&clock);
  EventListener listen = m.Listener();
  listen(Event(JobEvent::Kind::kStarted, "a", absl::ZeroDuration()));
  listen(Event(JobEvent::Kind::kCompleted, "a", absl::Milliseconds(7)));
  listen(Event(JobEvent::Kind::kRetrying, "a", absl::Seconds(2)));
  listen(Event(JobEvent::Kind::kDead, "b\"q", absl::Seconds(400)));
  m.RecordEnqueued("a", 3);
  clock.Advance(absl::Minutes(2));
  listen(Event(JobEvent::Kind::kCompleted, "a", absl::Milliseconds(1)));

  std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_enqueued_total{name=\"a\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_completed_total{name=\"a\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_failed_total{name=\"a\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_dead_total{name=\"b\\\"q\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_duration_seconds_bucket{name=\"a\",le=\"0.005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_duration_seconds_bucket{name=\"a\",le=\"0.01\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_duration_seconds_bucket{name=\"a\",le=\"2.5\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_duration_seconds_count{name=\"a\"} 3\n"));
  // 400 s is beyond the last bucket: only +Inf counts it.
  EXPECT_THAT(text,
              HasSubstr("popqueue_job_duration_seconds_bucket{name=\"b\\\"q\",le=\"300\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("popqueue_job_duration_seconds_bucket{name=\"b\\\"q\",le=\"+Inf\"} 1\n"));

  std::vector<ThroughputPoint> series = m.Throughput();
  ASSERT_EQ(series.size(), static_cast<size_t>(Metrics::kThroughputMinutes));
  EXPECT_EQ(series.back().completed, 1);
  EXPECT_EQ(series[series.size() - 2].completed, 0);
  const ThroughputPoint& first = series[series.size() - 3];
  EXPECT_EQ(first.completed, 1);
  EXPECT_EQ(first.failed, 2);
  EXPECT_EQ(first.dead, 1);
  EXPECT_EQ(first.enqueued, 3);
  EXPECT_EQ(absl::ToUnixSeconds(first.minute) % 60, 0);

  clock.Advance(absl::Hours(2));
  for (const ThroughputPoint& p : m.Throughput()) EXPECT_EQ(p.completed, 0);
}

TEST(Metrics, QueueWaitFromDueTimeToStart) {
  testing::FakeClock clock(absl::FromUnixSeconds(1800000000));
  Metrics m(&clock);
  JobEvent e = Event(JobEvent::Kind::kStarted, "w", absl::ZeroDuration());
  e.job.created_at = clock.Now() - absl::Milliseconds(30);  // enqueued 30 ms ago, due at once
  e.job.run_at = e.job.created_at - absl::Hours(1);         // a past run_at counts from enqueue
  m.Record(e);
  e.job.created_at = clock.Now() - absl::Hours(2);
  e.job.run_at = clock.Now() - absl::Seconds(20);  // delayed job, due 20 s ago
  m.Record(e);
  std::string text = m.RenderPrometheus();
  EXPECT_THAT(text,
              HasSubstr("popqueue_job_queue_wait_seconds_bucket{name=\"w\",le=\"0.01\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("popqueue_job_queue_wait_seconds_bucket{name=\"w\",le=\"0.05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_queue_wait_seconds_bucket{name=\"w\",le=\"10\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_queue_wait_seconds_bucket{name=\"w\",le=\"30\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_queue_wait_seconds_count{name=\"w\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_job_queue_wait_seconds_sum{name=\"w\"} 20.030000\n"));
}

TEST(Metrics, NamesBeyondTheLimitAreFoldedIntoOther) {
  testing::FakeClock clock(absl::FromUnixSeconds(1800000000));
  Metrics m(&clock);
  for (size_t i = 0; i < Metrics::kMaxNames + 50; ++i) {
    m.Record(Event(JobEvent::Kind::kCompleted, "job-" + std::to_string(i), absl::Milliseconds(1)));
  }
  m.RecordEnqueued("late-name", 4);
  m.Record(Event(JobEvent::Kind::kCompleted, "job-0", absl::Milliseconds(1)));  // known: its own
  std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_completed_total{name=\"job-0\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_completed_total{name=\"(other)\"} 50\n"));
  EXPECT_THAT(text, HasSubstr("popqueue_jobs_enqueued_total{name=\"(other)\"} 4\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("name=\"late-name\"")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("name=\"job-520\"")));
}

TEST(Metrics, StateSamplesAreSpacedAndBounded) {
  testing::FakeClock clock;
  Metrics m(&clock);
  m.MaybeRecordStates({{JobState::kAvailable, 1}});
  m.MaybeRecordStates({{JobState::kAvailable, 2}});  // too soon: dropped
  clock.Advance(Metrics::kStateSampleEvery);
  m.MaybeRecordStates({{JobState::kAvailable, 3}});
  auto states = m.States();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[1].counts[JobState::kAvailable], 3);
  for (int i = 0; i < Metrics::kStateSamples + 10; ++i) {
    clock.Advance(Metrics::kStateSampleEvery);
    m.MaybeRecordStates({});
  }
  EXPECT_EQ(m.States().size(), static_cast<size_t>(Metrics::kStateSamples));
}

TEST(Metrics, LabelEscaping) { EXPECT_EQ(PrometheusLabel("a\\b\"c\nd"), "a\\\\b\\\"c\\nd"); }

}  // namespace
}  // namespace popqueue::server
