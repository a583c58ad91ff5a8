// The worker runtime end to end on the embedded SQLite store: lifecycle,
// ordering, retries, timeouts, cancellation, shutdown and validation.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/integration/event_log.h"
#include "tests/support/queue_config.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

using testing::EventLog;
using testing::Eventually;
using testing::FastQueueConfig;
using ::testing::HasSubstr;
using testing::TempDir;

TEST(Queue, ProcessesEveryJobExactlyOnce) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir);
  config.worker.default_concurrency = 8;
  Queue queue(config);
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  Mutex mu;
  std::map<std::string, int> runs;
  ASSERT_TRUE(queue
                  .Define("count",
                          [&](const Job& job) {
                            MutexLock lock(&mu);
                            ++runs[job.data];
                            return true;
                          })
                  .ok());
  EventLog log;
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  std::vector<EnqueueRequest> batch;
  for (int i = 0; i < 500; ++i) batch.push_back({.name = "count", .data = std::to_string(i)});
  auto ids = queue.EnqueueMany(batch);
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 500));
  queue.Stop();
  EXPECT_EQ(runs.size(), 500u);
  for (const auto& [data, n] : runs) EXPECT_EQ(n, 1) << data;
  auto counts = queue.CountByState();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ(counts->front().by_state.at(JobState::kCompleted), 500);
}

TEST(Queue, OriginalApiSemantics) {
  TempDir dir;
  Queue queue(dir.SqliteUrl(), "", "myDatabase", "myCollection", 2);
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  std::time_t now = std::time(nullptr);
  auto a = queue.Now(Job{.data = "x"}, "myJob", "key-1", now);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->inserted);
  EXPECT_EQ(a->state, JobState::kAvailable);
  auto dup = queue.Now(Job{.data = "y"}, "myJob", "key-1", now);
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->inserted);
  EXPECT_EQ(dup->id, a->id);
  auto later = queue.Now(Job{.data = "z"}, "myJob", "", now + 3600);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->state, JobState::kScheduled);
  auto job = queue.GetJob(a->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->max_attempts, 3);  // retries + 1
  EXPECT_EQ(job->data, "x");
  EXPECT_EQ(job->identifier, "key-1");
  EXPECT_EQ(job->queue, "default");
}

TEST(Queue, PriorityThenDueTimeThenId) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir);
  config.worker.default_concurrency = 1;
  Queue queue(config);
  std::vector<std::string> order;
  Mutex mu;
  ASSERT_TRUE(queue
                  .Define("j",
                          [&](const Job& job) {
                            MutexLock lock(&mu);
                            order.push_back(job.data);
                            return true;
                          })
                  .ok());
  EventLog log;
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  absl::Time now = absl::Now();
  auto add = [&](std::string data, int priority, absl::Duration ago) {
    ASSERT_TRUE(queue.Enqueue("j", data, {.priority = priority, .run_at = now - ago}).ok());
  };
  add("low-old", 5, absl::Seconds(30));
  add("high-new", 1, absl::Seconds(1));
  add("high-old", 1, absl::Seconds(20));
  add("mid", 3, absl::Seconds(40));
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 4));
  queue.Stop();
  EXPECT_THAT(order, ::testing::ElementsAre("high-old", "high-new", "mid", "low-old"));
}

TEST(Queue, DelayedJobRunsWhenDue) {
  TempDir dir;
  testing::FakeClock clock;
  QueueConfig config = FastQueueConfig(dir);
  config.clock = &clock;
  Queue queue(config);
  EventLog log;
  ASSERT_TRUE(queue.Define("later", [](const Job&) { return true; }).ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("later", "", {.delay = absl::Minutes(10)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kScheduled);
  ASSERT_TRUE(queue.StartInBackground().ok());
  // Several poll intervals pass in real time; the fake clock has not moved.
  EXPECT_FALSE(log.WaitFor(JobEvent::Kind::kStarted, 1, absl::Milliseconds(200)));
  clock.Advance(absl::Minutes(10));
  EXPECT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 1));
  queue.Stop();
}

TEST(Queue, RetriesWithBackoffThenDead) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/2));
  EventLog log;
  std::atomic<int> calls{0};
  ASSERT_TRUE(queue
                  .Define("flaky",
                          [&](JobContext& ctx) -> absl::Status {
                            ++calls;
                            return absl::UnavailableError("upstream down (attempt " +
                                                          std::to_string(ctx.job().attempt) + ")");
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("flaky", "");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kDead, 1));
  queue.Stop();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(log.Count(JobEvent::Kind::kRetrying), 2);
  auto job = queue.GetJob(r->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kDead);
  EXPECT_EQ(job->attempt, 3);
  ASSERT_EQ(job->errors.size(), 3u);
  EXPECT_EQ(job->errors[0].attempt, 1);
  EXPECT_EQ(job->errors[2].message, "upstream down (attempt 3)");
  EXPECT_TRUE(job->finished_at.has_value());
  // Requeue from the dead-letter state gives a fresh budget and runs again.
  auto requeued = queue.Requeue(r->id);
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(requeued->state, JobState::kAvailable);
  EXPECT_EQ(requeued->attempt, 0);
}

TEST(Queue, ThrowingHandlerAndUndefinedNameAreFailures) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/0));
  EventLog log;
  ASSERT_TRUE(
      queue.Define("throws", [](const Job&) -> bool { throw std::runtime_error("boom"); }).ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto a = queue.Enqueue("throws", "");
  auto b = queue.Enqueue("nobody-defined-this", "");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kDead, 2));
  queue.Stop();
  EXPECT_THAT(queue.GetJob(a->id)->errors.at(0).message, HasSubstr("handler threw: boom"));
  EXPECT_THAT(queue.GetJob(b->id)->errors.at(0).message,
              HasSubstr("no handler defined for job name \"nobody-defined-this\""));
}

TEST(Queue, TimeoutFailsTheAttemptAndStopsTheHandler) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir, /*retries=*/0));
  EventLog log;
  Notification saw_cancel;
  ASSERT_TRUE(queue
                  .Define("slow",
                          [&](JobContext& ctx) -> absl::Status {
                            while (!ctx.cancelled()) absl::SleepFor(absl::Milliseconds(5));
                            saw_cancel.Notify();
                            return absl::OkStatus();  // too late: the timeout already decided
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("slow", "", {.timeout = absl::Milliseconds(200)});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kDead, 1));
  EXPECT_TRUE(saw_cancel.WaitForNotificationWithTimeout(absl::Seconds(10)));
  queue.Stop();
  auto job = queue.GetJob(r->id);
  EXPECT_EQ(job->state, JobState::kDead);
  EXPECT_THAT(job->errors.at(0).message, HasSubstr("timed out after"));
  EXPECT_EQ(log.Count(JobEvent::Kind::kCompleted), 0);
}

TEST(Queue, CancelARunningJob) {
  TempDir dir;
  // Heartbeats every 10 s: a cancel in this process must not wait for one.
  QueueConfig config = FastQueueConfig(dir);
  Queue queue(config);
  EventLog log;
  Notification started;
  ASSERT_TRUE(queue
                  .Define("long",
                          [&](JobContext& ctx) -> absl::Status {
                            started.Notify();
                            ctx.SetProgress(40);
                            while (!ctx.cancelled()) absl::SleepFor(absl::Milliseconds(5));
                            return absl::CancelledError("stopped on request");
                          })
                  .ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  auto r = queue.Enqueue("long", "");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  auto c = queue.Cancel(r->id);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state, JobState::kRunning);
  EXPECT_TRUE(c->cancel_requested);
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCancelled, 1, absl::Seconds(3)));
  queue.Stop();
  auto job = queue.GetJob(r->id);
  EXPECT_EQ(job->state, JobState::kCancelled);
  // A finished job cannot be cancelled.
  EXPECT_EQ(queue.Cancel(r->id).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Queue, StopReleasesJobsStillRunningAfterTheDeadline) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir, /*retries=*/0);
  config.worker.shutdown_deadline = absl::Milliseconds(100);
  Queue queue(config);
  Notification started;
  std::atomic<bool> saw_cancel{false};
  ASSERT_TRUE(queue
                  .Define("stuck",
                          [&](JobContext& ctx) -> absl::Status {
                            started.Notify();
                            while (!ctx.cancelled()) absl::SleepFor(absl::Milliseconds(5));
                            saw_cancel = true;
                            return absl::AbortedError("interrupted");
                          })
                  .ok());
  auto r = queue.Enqueue("stuck", "");
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  queue.Stop();
  EXPECT_TRUE(saw_cancel);
  auto job = queue.GetJob(r->id);
  // Released for another attempt, even though no retries remain: shutdown
  // is not the job's failure.
  EXPECT_EQ(job->state, JobState::kRetryable);
  EXPECT_THAT(job->errors.at(0).message, HasSubstr("worker shutting down"));
  EXPECT_FALSE(queue.running());
}

// A handler deaf to its timeout keeps its job's lease and its slot: the
// next job waits, the job shows the stop request and, past the hard limit
// (timeout + stop_grace), overdue; the metrics count it. Its attempt is
// recorded only when it returns.
TEST(Queue, OverdueHandlerIsReportedAndKeepsItsSlot) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir, /*retries=*/0);
  config.worker.default_concurrency = 1;
  config.worker.heartbeat_interval = absl::Milliseconds(50);
  config.worker.stop_grace = absl::Milliseconds(200);
  Queue queue(config);
  static std::atomic<bool> release{false};
  release = false;
  ASSERT_TRUE(queue
                  .Define("deaf",
                          [](JobContext&) -> absl::Status {
                            while (!release) absl::SleepFor(absl::Milliseconds(5));
                            return absl::OkStatus();
                          })
                  .ok());
  ASSERT_TRUE(queue.Define("next", [](const Job&) { return true; }).ok());
  auto deaf = queue.Enqueue("deaf", "", {.timeout = absl::Milliseconds(200)});
  ASSERT_TRUE(deaf.ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(Eventually([&] { return queue.GetJob(deaf->id)->state == JobState::kRunning; }));
  auto next = queue.Enqueue("next", "");
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(Eventually(
      [&] {
        auto job = queue.GetJob(deaf->id);
        return job->stopping && job->stopping->overdue;
      },
      absl::Seconds(5)));
  auto job = queue.GetJob(deaf->id);
  EXPECT_EQ(job->state, JobState::kRunning);
  EXPECT_EQ(job->stopping->reason, "timeout");
  ConcurrencyStats stats = queue.Concurrency();
  EXPECT_EQ(stats.stopping, 1);
  EXPECT_EQ(stats.overdue, 1);
  EXPECT_EQ(stats.running, 1);
  // The slot is still the deaf handler's.
  EXPECT_EQ(queue.GetJob(next->id)->state, JobState::kAvailable);
  release = true;
  ASSERT_TRUE(Eventually([&] { return queue.GetJob(next->id)->state == JobState::kCompleted; }));
  // The two outcomes may be written in one completer flush, completions
  // before failures: the deaf job's end is not ordered before next's.
  ASSERT_TRUE(Eventually([&] { return queue.GetJob(deaf->id)->state == JobState::kDead; }));
  job = queue.GetJob(deaf->id);
  EXPECT_THAT(job->errors.at(0).message, HasSubstr("timed out after"));
  stats = queue.Concurrency();
  EXPECT_EQ(stats.overruns, 1);
  EXPECT_GE(stats.overrun_seconds, 0.2);
  queue.Stop();
}

// Stop() ends within the shutdown deadline even when a handler ignores
// every request; the job is released with the reason, and the handler's
// thread, left behind, returns later without touching the destroyed queue.
TEST(Queue, StopEndsInTimeBesideAHandlerThatNeverStops) {
  TempDir dir;
  static std::atomic<bool> release{false};
  static std::atomic<bool> returned{false};
  release = false;
  returned = false;
  JobId id = 0;
  {
    QueueConfig config = FastQueueConfig(dir, /*retries=*/0);
    config.worker.shutdown_deadline = absl::Milliseconds(600);
    config.worker.stop_grace = absl::Milliseconds(200);
    Queue queue(config);
    ASSERT_TRUE(queue
                    .Define("deaf",
                            [](JobContext&) -> absl::Status {
                              while (!release) absl::SleepFor(absl::Milliseconds(5));
                              returned = true;
                              return absl::OkStatus();
                            })
                    .ok());
    auto r = queue.Enqueue("deaf", "");
    ASSERT_TRUE(r.ok());
    id = r->id;
    ASSERT_TRUE(queue.StartInBackground().ok());
    ASSERT_TRUE(Eventually([&] { return queue.GetJob(id)->state == JobState::kRunning; }));
    const absl::Time t0 = absl::Now();
    queue.Stop();
    EXPECT_LE(absl::Now() - t0, absl::Milliseconds(1500));
    auto job = queue.GetJob(id);
    EXPECT_EQ(job->state, JobState::kRetryable);
    EXPECT_THAT(job->errors.at(0).message, HasSubstr("worker shutting down"));
    EXPECT_THAT(job->errors.at(0).message, HasSubstr("after it was asked to stop"));
  }
  release = true;
  EXPECT_TRUE(Eventually([] { return returned.load(); }, absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(50));  // the thread finishes, touching nothing
}

// With handle_signals, SIGTERM reaches pop-queue's signal watcher and stops
// the queue gracefully; the threads that run handlers block it, so a
// handler's sleep is never cut short by it (common/thread.h).
TEST(Queue, StopSignalReachesTheWatcherNotTheHandlers) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir);
  config.worker.handle_signals = true;
  config.worker.default_concurrency = 4;
  Queue queue(config);
  std::atomic<int> started{0}, finished{0}, interrupted{0}, unblocked{0};
  ASSERT_TRUE(queue
                  .Define("nap",
                          [&](const Job&) {
                            sigset_t mask;
                            pthread_sigmask(SIG_BLOCK, nullptr, &mask);
                            if (!sigismember(&mask, SIGTERM) || !sigismember(&mask, SIGINT))
                              ++unblocked;
                            ++started;
                            timespec nap{.tv_sec = 0, .tv_nsec = 300'000'000};
                            if (nanosleep(&nap, nullptr) != 0) ++interrupted;  // EINTR
                            ++finished;
                            return true;
                          })
                  .ok());
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(queue.Enqueue("nap", "")->id);
  // This thread blocks the signal too, so only pop-queue's watcher can take it.
  BlockStopSignals test_thread;
  absl::Status run;
  std::thread runner([&] { run = queue.Start(); });
  ASSERT_TRUE(testing::Eventually([&] { return started == 4; }, absl::Seconds(10)));
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  runner.join();
  EXPECT_TRUE(run.ok()) << run;
  EXPECT_EQ(unblocked, 0);
  EXPECT_EQ(interrupted, 0);
  EXPECT_EQ(finished, 4);
  for (int64_t id : ids) EXPECT_EQ(queue.GetJob(id)->state, JobState::kCompleted);
}

TEST(Queue, PerQueueConcurrencyIsRespected) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir);
  config.worker.queues = {"narrow", "wide"};
  config.worker.concurrency = {{"narrow", 2}, {"wide", 6}};
  Queue queue(config);
  std::atomic<int> narrow_now{0}, narrow_max{0}, wide_now{0}, wide_max{0};
  auto track = [](std::atomic<int>& now, std::atomic<int>& max) {
    int n = ++now;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
    absl::SleepFor(absl::Milliseconds(20));
    --now;
  };
  ASSERT_TRUE(queue
                  .Define("n",
                          [&](const Job&) {
                            track(narrow_now, narrow_max);
                            return true;
                          })
                  .ok());
  ASSERT_TRUE(queue
                  .Define("w",
                          [&](const Job&) {
                            track(wide_now, wide_max);
                            return true;
                          })
                  .ok());
  EventLog log;
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  std::vector<EnqueueRequest> batch;
  for (int i = 0; i < 30; ++i) {
    batch.push_back({.name = "n", .options = {.queue = "narrow"}});
    batch.push_back({.name = "w", .options = {.queue = "wide"}});
  }
  ASSERT_TRUE(queue.EnqueueMany(batch).ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 60));
  queue.Stop();
  EXPECT_LE(narrow_max, 2);
  EXPECT_LE(wide_max, 6);
  EXPECT_GE(wide_max, 3);  // it did run in parallel
}

TEST(Queue, PausedQueueIsNotWorked) {
  TempDir dir;
  Queue queue(FastQueueConfig(dir));
  EventLog log;
  ASSERT_TRUE(queue.Define("j", [](const Job&) { return true; }).ok());
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  ASSERT_TRUE(queue.PauseQueue("default").ok());
  ASSERT_TRUE(queue.Enqueue("j", "").ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  EXPECT_FALSE(log.WaitFor(JobEvent::Kind::kStarted, 1, absl::Milliseconds(200)));
  ASSERT_TRUE(queue.ResumeQueue("default").ok());
  EXPECT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 1));
  queue.Stop();
}

TEST(Queue, ClearErrorsForBadInput) {
  TempDir dir;
  EXPECT_THAT(Queue("mysql://h/db", "", "d", "c", 3).status().message(),
              HasSubstr("unsupported database URL scheme \"mysql://\""));
  EXPECT_THAT(Queue("not a url", "", "d", "c", 3).status().message(), HasSubstr("invalid URL"));
  EXPECT_THAT(Queue(dir.SqliteUrl(), "", "d", "c", -1).status().message(),
              HasSubstr("retries must be >= 0"));
  EXPECT_THAT(Queue(dir.SqliteUrl(), "", "d", "bad-name;drop", 3).status().message(),
              HasSubstr("collection \"bad-name;drop\" is not a valid name"));
  Queue bad("mysql://h/db", "", "d", "c", 3);
  EXPECT_EQ(bad.Now(Job{}, "x", "", 0).status().code(), absl::StatusCode::kInvalidArgument);

  Queue queue(dir.SqliteUrl(), "", "d", "jobs", 3);
  ASSERT_TRUE(queue.status().ok());
  EXPECT_THAT(queue.Enqueue("", "").status().message(), HasSubstr("name"));
  EXPECT_THAT(queue.Enqueue("j", "", {.queue = "has space"}).status().message(),
              HasSubstr("not a valid queue name"));
  EXPECT_THAT(
      queue.Enqueue("j", "", {.run_at = absl::Now(), .delay = absl::Seconds(1)}).status().message(),
      HasSubstr("exclusive"));
  EXPECT_THAT(queue.Enqueue("j", "", {.max_attempts = 0}).status().message(),
              HasSubstr("max_attempts"));
  EXPECT_THAT(queue.Enqueue("j", std::string(2 << 20, 'x')).status().message(),
              HasSubstr("exceeds the limit"));
  EXPECT_THAT(queue.Now(Job{}, "j", "", -5).status().message(), HasSubstr("score"));
  EXPECT_EQ(queue.Define("", [](const Job&) { return true; }).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(queue.Define("j", [](const Job&) { return true; }).ok());
  EXPECT_EQ(queue.Define("j", [](const Job&) { return true; }).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(queue.GetJob(12345).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(queue.EnqueueMany({{.name = "j"}, {.name = ""}}).status().message(),
              HasSubstr("jobs[1]"));
  // Nothing of the refused batch was stored.
  EXPECT_TRUE(queue.ListJobs({})->jobs.empty());
}

// Job metadata from the enqueue to the handler (its trace context through
// JobContext::traceparent()), through a retry, and refused past its limits
// with the field named and nothing stored.
TEST(Queue, MetadataReachesTheHandlerAndIsValidated) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir);
  Queue queue(config);
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  constexpr char kTrace[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  Mutex mu;
  std::vector<std::string> seen;  // traceparent and tenant, per attempt
  ASSERT_TRUE(queue
                  .Define("traced",
                          [&](JobContext& ctx) -> absl::Status {
                            MutexLock lock(&mu);
                            seen.push_back(std::string(ctx.traceparent()) + " " +
                                           ctx.job().metadata.at("tenant"));
                            if (seen.size() == 1) return absl::InternalError("first attempt");
                            return absl::OkStatus();
                          })
                  .ok());
  EventLog log;
  ASSERT_TRUE(queue.OnEvent(log.Listener()).ok());
  EnqueueOptions options{.max_attempts = 2, .backoff_base = absl::Milliseconds(10)};
  options.metadata = {{"traceparent", kTrace}, {"tenant", "acme"}};
  auto id = queue.Enqueue("traced", "{}", options);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(log.WaitFor(JobEvent::Kind::kCompleted, 1));
  queue.Stop();
  EXPECT_THAT(seen,
              ::testing::ElementsAre(std::string(kTrace) + " acme", std::string(kTrace) + " acme"));
  EXPECT_EQ(queue.GetJob(id->id)->metadata, options.metadata);

  auto refused = [&](JobMetadata m) {
    EnqueueOptions o;
    o.metadata = std::move(m);
    return queue.Enqueue("traced", "", o).status();
  };
  JobMetadata many;
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  for (const auto& [m, want] : std::vector<std::pair<JobMetadata, std::string>>{
           {{{"has space", "v"}}, "metadata: key \"has space\""},
           {{{"", "v"}}, "metadata: keys must be 1-128 bytes"},
           {{{std::string(129, 'k'), "v"}}, "metadata: keys must be 1-128 bytes"},
           {{{"bin", std::string("a\0b", 3)}}, "metadata.bin: must be UTF-8 text"},
           {{{"latin1", "caf\xe9"}}, "metadata.latin1: must be UTF-8 text"},
           {{{"big", std::string(8200, 'x')}}, "exceed the limit of 8192 bytes"},
           {many, "metadata: at most 64 entries, got 65"},
       }) {
    absl::Status s = refused(m);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_THAT(s.message(), HasSubstr(want));
  }
  EXPECT_EQ(queue.ListJobs({})->jobs.size(), 1u);  // only the first
}

TEST(Queue, RegistryAndRedistribute) {
  TempDir dir;
  QueueConfig config = FastQueueConfig(dir);
  config.worker.worker_id = "worker-a";
  Queue queue(config);
  ASSERT_TRUE(queue.RegisterWorker().ok());
  auto workers = queue.ListWorkers();
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ(workers->front().id, "worker-a");
  ASSERT_TRUE(queue.DeregisterWorker().ok());
  EXPECT_TRUE(queue.ListWorkers()->empty());
  auto n = queue.RedistributeJobs();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
}

}  // namespace
}  // namespace popqueue
