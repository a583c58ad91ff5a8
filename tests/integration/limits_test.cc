// Concurrency caps, rate limits and resource-aware concurrency, end to end on
// the embedded SQLite store. Handlers measure what they see themselves.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "coord/coordinator.h"
#include "core/runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "server/metrics.h"
#include "store/registry.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

QueueConfig FastConfig(const TempDir& dir) {
  QueueConfig c{.db_url = dir.SqliteUrl(), .retries = 3};
  c.worker.poll_interval = absl::Milliseconds(20);
  c.worker.heartbeat_interval = absl::Milliseconds(100);
  c.worker.handle_signals = false;
  c.worker.shutdown_deadline = absl::Seconds(5);
  return c;
}

void EnqueueN(Queue& q, const std::string& name, int n, const std::string& queue = "") {
  std::vector<EnqueueRequest> batch(n, EnqueueRequest{.name = name, .options = {.queue = queue}});
  ASSERT_TRUE(q.EnqueueMany(batch).ok());
}

// What the handlers saw: running now and the maximum, per queue and overall.
class RunningGauge {
 public:
  void Enter(const std::string& queue) {
    MutexLock lock(&mu_);
    int q = ++running_[queue];
    max_[queue] = std::max(max_[queue], q);
    ++total_;
    max_total_ = std::max(max_total_, total_);
  }
  void Exit(const std::string& queue) {
    MutexLock lock(&mu_);
    --running_[queue];
    --total_;
    ++done_;
  }
  bool WaitDone(int n, absl::Duration timeout = absl::Seconds(30)) {
    MutexLock lock(&mu_);
    auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
  }
  int max(const std::string& queue) {
    MutexLock lock(&mu_);
    return max_[queue];
  }
  int max_total() {
    MutexLock lock(&mu_);
    return max_total_;
  }

 private:
  Mutex mu_;
  std::map<std::string, int> running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> max_ ABSL_GUARDED_BY(mu_);
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  int max_total_ ABSL_GUARDED_BY(mu_) = 0;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(Limits, ConcurrencyCapsHoldPerQueueAndGlobally) {
  TempDir dir;
  QueueConfig config = FastConfig(dir);
  config.worker.queues = {"a", "b", "c"};
  config.worker.concurrency = {{"a", 2}, {"b", 3}, {"c", 3}};
  config.worker.max_concurrency = 5;
  Queue queue(config);
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  RunningGauge gauge;
  ASSERT_TRUE(queue
                  .Define("work",
                          [&](const Job& job) {
                            gauge.Enter(job.queue);
                            absl::SleepFor(absl::Milliseconds(5));  // the work
                            gauge.Exit(job.queue);
                            return true;
                          })
                  .ok());
  for (const char* q : {"a", "b", "c"}) EnqueueN(queue, "work", 40, q);
  ASSERT_TRUE(queue.StartInBackground().ok());
  ConcurrencyStats stats = queue.Concurrency();
  EXPECT_EQ(stats.limit, 5);
  EXPECT_EQ(stats.configured, 5);
  EXPECT_FALSE(stats.resource_aware);
  ASSERT_TRUE(gauge.WaitDone(120));
  queue.Stop();
  EXPECT_LE(gauge.max("a"), 2);
  EXPECT_LE(gauge.max("b"), 3);
  EXPECT_LE(gauge.max("c"), 3);
  EXPECT_LE(gauge.max_total(), 5);
  EXPECT_GE(gauge.max_total(), 4) << "the global cap was never approached";
  for (const char* q : {"a", "b", "c"}) EXPECT_GE(gauge.max(q), 1) << q;
  EXPECT_EQ(queue.Concurrency().limit, 0);  // stopped
  EXPECT_EQ(server::RenderConcurrency(queue.Concurrency()), "");
}

TEST(Limits, InvalidLimitsAreRefusedAtConstruction) {
  TempDir dir;
  QueueConfig config = FastConfig(dir);
  config.worker.job_rate_limits["email"] = {.limit = 10, .period = absl::ZeroDuration()};
  Queue queue(config);
  EXPECT_EQ(queue.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(queue.status().message(), HasSubstr("worker.job_rate_limits[email].period"));
}

// Start times, in real time, of every handler call.
class Starts {
 public:
  void Add(const std::string& name, JobId id, int attempt) {
    MutexLock lock(&mu_);
    at_[name].push_back(absl::Now());
    ids_.insert(id);
    max_attempt_ = std::max(max_attempt_, attempt);
  }
  bool WaitFor(const std::string& name, size_t n, absl::Duration timeout = absl::Seconds(30)) {
    MutexLock lock(&mu_);
    auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return at_[name].size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
  }
  std::vector<absl::Time> Of(const std::string& name) {
    MutexLock lock(&mu_);
    return at_[name];
  }
  bool Started(JobId id) {
    MutexLock lock(&mu_);
    return ids_.count(id) > 0;
  }
  int max_attempt() {
    MutexLock lock(&mu_);
    return max_attempt_;
  }

 private:
  Mutex mu_;
  std::map<std::string, std::vector<absl::Time>> at_ ABSL_GUARDED_BY(mu_);
  std::set<JobId> ids_ ABSL_GUARDED_BY(mu_);
  int max_attempt_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(Limits, QueueRateLimitIsAccurate) {
  TempDir dir;
  QueueConfig config = FastConfig(dir);
  config.worker.default_concurrency = 20;
  config.worker.queue_rate_limits[kDefaultQueue] = {.limit = 50, .period = absl::Seconds(1)};
  Queue queue(config);
  ASSERT_TRUE(queue.status().ok());
  Starts starts;
  ASSERT_TRUE(queue
                  .Define("tick",
                          [&](const Job& job) {
                            starts.Add(job.name, job.id, job.attempt);
                            return true;
                          })
                  .ok());
  EnqueueN(queue, "tick", 150);
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(starts.WaitFor("tick", 110));
  queue.Stop();
  std::vector<absl::Time> at = starts.Of("tick");
  std::sort(at.begin(), at.end());
  // Starts within the first two seconds: 100 expected.
  long in_window = std::count_if(at.begin(), at.end(),
                                 [&](absl::Time t) { return t < at[0] + absl::Seconds(2); });
  std::printf("queue limit 50/s: %ld starts in the first 2 s\n", in_window);
  EXPECT_GE(in_window, 90);
  EXPECT_LE(in_window, 110);
}

// Two runtimes (as two processes would) share one coordinator: the limit holds
// for both together. With POPQUEUE_TEST_REDIS_URL set and the Redis
// coordinator compiled in, the coordinator is Redis; otherwise a local one
// shared by both runtimes stands in for it.
TEST(Limits, QueueRateLimitHoldsAcrossWorkersSharingACoordinator) {
  TempDir dir;
  QueueConfig config = FastConfig(dir);
  Queue queue(config);  // creates the schema
  ASSERT_TRUE(queue.status().ok());
  EnqueueN(queue, "tick", 150);
  std::shared_ptr<coord::Coordinator> coordinator;
  if (const char* redis = std::getenv("POPQUEUE_TEST_REDIS_URL"); redis && *redis) {
    auto c = coord::OpenCoordinator(redis, "limits_test_" + std::to_string(getpid()));
    if (c.ok()) coordinator = *c;
    if (!c.ok())
      std::printf("Redis coordinator unavailable (%s); using a local one\n",
                  std::string(c.status().message()).c_str());
  }
  if (!coordinator) coordinator = *coord::OpenCoordinator("");
  std::printf("coordinator: %s\n", std::string(coordinator->Kind()).c_str());
  Starts starts;
  WorkerOptions options = config.worker;
  options.default_concurrency = 20;
  options.queue_rate_limits[kDefaultQueue] = {.limit = 50, .period = absl::Seconds(1)};
  std::vector<std::unique_ptr<core::Runtime>> workers;
  for (int i = 0; i < 2; ++i) {
    auto store = store::OpenStore(
        {.url = config.db_url, .db_name = config.db_name, .collection = config.collection});
    ASSERT_TRUE(store.ok()) << store.status();
    core::RuntimeParams p{.store = *store,
                          .clock = Clock::Real(),
                          .options = options,
                          .worker_id = "limits-worker-" + std::to_string(i),
                          .coordinator = coordinator};
    p.handlers["tick"] = [&](JobContext& ctx) {
      starts.Add("tick", ctx.job().id, ctx.job().attempt);
      return absl::OkStatus();
    };
    workers.push_back(std::make_unique<core::Runtime>(std::move(p)));
  }
  for (auto& w : workers) ASSERT_TRUE(w->Start().ok());
  ASSERT_TRUE(starts.WaitFor("tick", 110));
  for (auto& w : workers) w->Stop();
  std::vector<absl::Time> at = starts.Of("tick");
  std::sort(at.begin(), at.end());
  long in_window = std::count_if(at.begin(), at.end(),
                                 [&](absl::Time t) { return t < at[0] + absl::Seconds(2); });
  std::printf("queue limit 50/s over 2 workers: %ld starts in the first 2 s\n", in_window);
  EXPECT_GE(in_window, 90);
  EXPECT_LE(in_window, 110);
}

TEST(Limits, JobNameLimitHoldsJobsWithoutStarvingOtherNames) {
  TempDir dir;
  QueueConfig config = FastConfig(dir);
  config.worker.default_concurrency = 4;
  config.worker.job_rate_limits["slow"] = {.limit = 2, .period = absl::Seconds(1)};
  Queue queue(config);
  ASSERT_TRUE(queue.status().ok());
  Starts starts;
  for (const char* name : {"slow", "fast"}) {
    ASSERT_TRUE(queue
                    .Define(name,
                            [&](const Job& job) {
                              starts.Add(job.name, job.id, job.attempt);
                              return true;
                            })
                    .ok());
  }
  // The slow jobs come first in claim order.
  EnqueueN(queue, "slow", 40);
  EnqueueN(queue, "fast", 20);
  absl::Time begin = absl::Now();
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(starts.WaitFor("fast", 20, absl::Seconds(10)));
  absl::Duration took = absl::Now() - begin;
  size_t slow = starts.Of("slow").size();
  std::printf("name limit 2/s: 20 fast jobs done in %s; %zu slow started; %d held\n",
              absl::FormatDuration(took).c_str(), slow, queue.Concurrency().held);
  EXPECT_LT(took, absl::Seconds(5)) << "fast jobs waited for the slow name's limit";
  EXPECT_LE(slow, 2 + 2 * static_cast<size_t>(absl::ToInt64Seconds(took) + 1));
  EXPECT_GT(queue.Concurrency().held, 0);

  // A held job (running in the store, never started) cancelled ends
  // cancelled without running.
  auto running = queue.ListJobs({.states = {JobState::kRunning}, .limit = 100});
  ASSERT_TRUE(running.ok());
  JobId held = 0;
  for (const Job& j : running->jobs) {
    if (j.name == "slow" && !starts.Started(j.id)) held = std::max(held, j.id);
  }
  ASSERT_NE(held, 0);
  ASSERT_TRUE(queue.Cancel(held).ok());
  ASSERT_TRUE(testing::Eventually([&] { return queue.GetJob(held)->state == JobState::kCancelled; },
                                  absl::Seconds(10)));
  EXPECT_FALSE(starts.Started(held));

  // Held jobs never counted extra attempts.
  ASSERT_TRUE(starts.WaitFor("slow", 6, absl::Seconds(10)));
  EXPECT_EQ(starts.max_attempt(), 1);
  std::vector<absl::Time> at = starts.Of("slow");
  queue.Stop();
  // Never more than the limit (2 per second) in any one-second window.
  for (size_t i = 0; i + 2 < at.size(); ++i) {
    EXPECT_GE(at[i + 2] - at[i], absl::Milliseconds(990)) << i;
  }
}

TEST(Limits, ResourceAwareConcurrencyFollowsInjectedLoad) {
  TempDir dir;
  QueueConfig config = FastConfig(dir);
  config.worker.default_concurrency = 6;
  std::atomic<double> cpu{0.99};
  ResourceLimits& r = config.worker.resource;
  r.enabled = true;
  r.min_concurrency = 1;
  r.check_interval = absl::Milliseconds(5);
  r.read_load = [&]() -> absl::StatusOr<LoadReading> {
    return LoadReading{.cpu = cpu.load(), .memory = 0.5};
  };
  Queue queue(config);
  ASSERT_TRUE(queue.status().ok());

  Mutex mu;
  bool release = false;
  int running = 0, max_running = 0, max_after_release = 0, done = 0;
  ASSERT_TRUE(queue
                  .Define("hold",
                          [&](const Job&) {
                            MutexLock lock(&mu);
                            ++running;
                            max_running = std::max(max_running, running);
                            if (release) max_after_release = std::max(max_after_release, running);
                            mu.Await(absl::Condition(&release));
                            --running;
                            ++done;
                            return true;
                          })
                  .ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  // High load: 6 -> 3 -> 1.
  ASSERT_TRUE(testing::Eventually([&] { return queue.Concurrency().limit == 1; }));
  ConcurrencyStats stats = queue.Concurrency();
  EXPECT_TRUE(stats.resource_aware);
  EXPECT_EQ(stats.configured, 6);
  ASSERT_TRUE(stats.load.has_value());
  EXPECT_DOUBLE_EQ(stats.load->cpu, 0.99);
  std::string metrics = server::RenderConcurrency(stats);
  EXPECT_THAT(metrics, HasSubstr("\npopqueue_concurrency_limit 1\n"));
  EXPECT_THAT(metrics, HasSubstr("\npopqueue_concurrency_configured 6\n"));
  EXPECT_THAT(metrics, HasSubstr("\npopqueue_load_cpu_ratio 0.990\n"));

  EnqueueN(queue, "hold", 12);
  {
    MutexLock lock(&mu);
    auto one = [&] { return running == 1; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&one), absl::Seconds(10)));
  }
  // Give the fetcher a few polls to (wrongly) start more.
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(queue.ListJobs({.states = {JobState::kRunning}})->jobs.size(), 1u);

  // Load eases: the limit climbs back one step per check, to 6.
  cpu = 0.1;
  {
    MutexLock lock(&mu);
    auto six = [&] { return running == 6; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&six), absl::Seconds(10)));
  }
  EXPECT_EQ(queue.Concurrency().limit, 6);

  // Load again while 6 run: the limit drops, and the rest run one at a time.
  cpu = 0.99;
  ASSERT_TRUE(testing::Eventually([&] { return queue.Concurrency().limit == 1; }));
  {
    MutexLock lock(&mu);
    release = true;
    auto all = [&] { return done == 12; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
  }
  queue.Stop();
  EXPECT_EQ(max_running, 6);
  EXPECT_EQ(max_after_release, 1);
}

}  // namespace
}  // namespace popqueue
