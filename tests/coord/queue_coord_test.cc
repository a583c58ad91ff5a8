// A Queue whose cache URL names a shared coordinator: its workers appear in
// (and leave) the coordinator's registry, maintenance leadership is the
// coordinator lock "leader:maintenance", jobs run, and bad cache URLs fail
// construction with a clear status.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "coord_conformance.h"
#include "core/maintenance.h"
#include "gmock/gmock.h"
#include "popqueue/queue.h"
#include "popqueue/remote_worker.h"
#include "store/registry.h"
#include "tests/support/test_util.h"

namespace popqueue::coord::testing {
namespace {

using ::popqueue::testing::Eventually;
using ::popqueue::testing::TempDir;

std::vector<Backend> ServerBackends() {
  std::vector<Backend> b;
  auto open = [](const std::string& url, const std::string& ns) {
    return OpenCoordinator(url, ns);
  };
#if POPQUEUE_WITH_REDIS
  b.push_back({.name = "redis", .url_env = "POPQUEUE_TEST_REDIS_URL", .open = open});
  b.push_back(
      {.name = "redis_cluster", .url_env = "POPQUEUE_TEST_REDIS_CLUSTER_URL", .open = open});
#endif
#if POPQUEUE_WITH_MEMCACHED
  b.push_back({.name = "memcached", .url_env = "POPQUEUE_TEST_MEMCACHED_URL", .open = open});
#endif
  return b;
}

class QueueCoordTest : public CoordConformanceTest {
 protected:
  QueueConfig Config(const std::string& worker_id) {
    QueueConfig c{
        .db_url = dir_.SqliteUrl(), .cache_url = url_, .db_name = "coordtest", .collection = ns_};
    c.worker.worker_id = worker_id;
    c.worker.handle_signals = false;
    c.worker.poll_interval = absl::Milliseconds(50);
    c.worker.rescue_interval = absl::Milliseconds(200);
    c.worker.leader_ttl = absl::Seconds(5);
    return c;
  }
  // The coordinator as the Queue sees it (namespace "<db_name>/<collection>").
  std::shared_ptr<Coordinator> QueueView() {
    auto c = OpenCoordinator(url_, "coordtest/" + ns_);
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  }
  TempDir dir_;
};

std::vector<std::string> Ids(Coordinator& c) {
  std::vector<std::string> ids;
  auto list = c.WorkerList();
  EXPECT_TRUE(list.ok()) << list.status();
  if (list.ok()) {
    for (const WorkerInfo& w : *list) ids.push_back(w.id);
  }
  return ids;
}

TEST_P(QueueCoordTest, WorkersRegisterInTheCoordinator) {
  Queue a(Config("worker-a"));
  Queue b(Config("worker-b"));
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(b.status().ok()) << b.status();
  ASSERT_TRUE(a.Define("myJob", [](const Job&) { return true; }).ok());
  ASSERT_TRUE(b.Define("myJob", [](const Job&) { return true; }).ok());
  ASSERT_TRUE(a.StartInBackground().ok());
  ASSERT_TRUE(b.StartInBackground().ok());

  std::shared_ptr<Coordinator> view = QueueView();
  EXPECT_EQ(Ids(*view), (std::vector<std::string>{"worker-a", "worker-b"}));
  auto list = view->WorkerList();
  ASSERT_TRUE(list.ok() && !list->empty());
  EXPECT_EQ((*list)[0].pid, getpid());
  EXPECT_FALSE((*list)[0].host.empty());
  EXPECT_EQ((*list)[0].queues, (std::vector<std::string>{"default"}));

  // Another queue's namespace does not see them.
  auto other = OpenCoordinator(url_, "coordtest/elsewhere_" + ns_);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(Ids(**other).empty());

  a.Stop();
  EXPECT_EQ(Ids(*view), (std::vector<std::string>{"worker-b"}));
  ASSERT_TRUE(b.DeregisterWorker().ok());
  EXPECT_TRUE(Ids(*view).empty());
  b.Stop();
}

// Two processes' maintenance services: exactly one leads, through the
// coordinator lock; when it stops (resigning), the other takes over.
TEST_P(QueueCoordTest, MaintenanceElectsThroughTheCoordinatorLock) {
  auto store = store::OpenStore({.url = dir_.SqliteUrl(), .collection = "jobs"});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Migrate().ok());
  WorkerOptions options;
  options.rescue_interval = absl::Milliseconds(50);
  options.leader_ttl = absl::Seconds(5);
  auto a =
      std::make_unique<core::Maintenance>(*store, Clock::Real(), options, "worker-a", QueueView());
  core::Maintenance b(*store, Clock::Real(), options, "worker-b", QueueView());
  a->Start();
  ASSERT_TRUE(Eventually([&] { return a->is_leader(); }, absl::Seconds(10)));
  b.Start();
  // b keeps trying every 50 ms and keeps failing while a holds the lock.
  std::shared_ptr<Coordinator> view = QueueView();
  auto probe = view->LockAcquire(
      {.name = core::kMaintenanceLock, .owner = "probe", .ttl = absl::Seconds(5)});
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_FALSE(probe->has_value());
  EXPECT_FALSE(b.is_leader());
  a.reset();  // Stop() resigns: the lock is released at once
  EXPECT_TRUE(Eventually([&] { return b.is_leader(); }, absl::Seconds(10)));
  b.Stop();
}

// With a shared coordinator the maintenance leader holds its lock.
TEST_P(QueueCoordTest, MaintenanceLeaderHoldsTheCoordinatorLock) {
  Queue a(Config("worker-a"));
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(a.StartInBackground().ok());
  std::shared_ptr<Coordinator> view = QueueView();
  const LockAcquireParams probe{
      .name = "leader:maintenance", .owner = "probe", .ttl = absl::Seconds(5)};
  // The first election runs as the worker starts. A probe that gets the
  // lock first (a slow start) hands it back at once, or it would keep the
  // worker out for its whole ttl.
  EXPECT_TRUE(Eventually(
      [&] {
        auto l = view->LockAcquire(probe);
        if (l.ok() && l->has_value()) {
          EXPECT_TRUE(view->LockRelease(**l).ok());
          return false;
        }
        return l.ok();
      },
      absl::Seconds(10)))
      << "no worker took the maintenance lock";
  a.Stop();  // resigns: the lock is free at once
  auto l = view->LockAcquire(probe);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->has_value());
}

TEST_P(QueueCoordTest, JobsRunWithACoordinator) {
  Queue q(Config("worker-a"));
  ASSERT_TRUE(q.status().ok()) << q.status();
  Notification done;
  ASSERT_TRUE(q.Define("myJob", [&](const Job& j) {
                 if (j.data == "myJobData") done.Notify();
                 return true;
               }).ok());
  ASSERT_TRUE(q.Now(Job{.data = "myJobData"}, "myJob", "jobIdentifier", std::time(nullptr)).ok());
  ASSERT_TRUE(q.StartInBackground().ok());
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  q.Stop();
}

// Two Queue objects on one SQLite file stand for two processes: the store's
// wake-ups stay inside one of them, so only the coordinator's pub/sub can
// start the producer's job on the idle consumer before its next poll.
TEST_P(QueueCoordTest, EnqueueWakesIdleWorkersOfOtherQueueObjects) {
  if (!c().SupportsWake()) {
    GTEST_SKIP() << GetParam().name << " has no wake-ups (documented): workers poll";
  }
  QueueConfig consumer_config = Config("consumer");
  consumer_config.worker.poll_interval = absl::Seconds(60);
  Queue consumer(consumer_config);
  ASSERT_TRUE(consumer.status().ok()) << consumer.status();
  Notification started;
  ASSERT_TRUE(consumer
                  .Define("wake",
                          [&](const Job&) {
                            started.Notify();
                            return true;
                          })
                  .ok());
  ASSERT_TRUE(consumer.StartInBackground().ok());
  absl::SleepFor(absl::Milliseconds(300));  // its first fetch found nothing: idle

  Queue producer(Config("producer"));
  ASSERT_TRUE(producer.status().ok()) << producer.status();
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(producer.Enqueue("wake", "{}").ok());
  EXPECT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "the job waited for the 60 s poll";
  std::printf("enqueue to start across queue objects: %.1f ms\n",
              absl::ToDoubleMilliseconds(absl::Now() - t0));
  consumer.Stop();
}

// Remote workers behind two servers of one queue (two Queues with their
// RemoteWorkerApi, as two `popqueue serve`): the queue rate limit holds
// across both through the coordinator, and a worker fetching from one is in
// the registry the other lists; a StartMaintenance() server leads through
// the coordinator lock.
TEST_P(QueueCoordTest, RemoteWorkersShareLimitsAndRegistryAcrossServers) {
  QueueConfig ca = Config("server-a");
  QueueConfig cb = Config("server-b");
  for (QueueConfig* c : {&ca, &cb}) {
    // One per 10 minutes: each server alone would grant one of its own.
    c->worker.queue_rate_limits["metered"] = {.limit = 1, .period = absl::Minutes(10)};
  }
  Queue a(ca);
  Queue b(cb);
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(b.status().ok()) << b.status();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a.Enqueue("job", "{}", {.queue = "metered"}).ok());
  }
  RemoteWorkerApi api_a(a);
  RemoteWorkerApi api_b(b);
  size_t total = 0;
  for (int i = 0; i < 10; ++i) {
    RemoteWorkerApi& api = i % 2 == 0 ? api_a : api_b;
    auto jobs = api.FetchJobs({.queues = {"metered"},
                               .worker_id = "remote-" + std::to_string(i),
                               .limit = 10,
                               .address = "10.1.2.3"});
    ASSERT_TRUE(jobs.ok()) << jobs.status();
    total += jobs->size();
  }
  EXPECT_EQ(total, 1u) << "the rate limit of 1 per 10 minutes did not hold across the servers";

  // remote-0 fetched through a; b's listing (the coordinator's) has it.
  auto workers = b.ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  bool found = false;
  for (const WorkerInfo& w : *workers) {
    if (w.id != "remote-0") continue;
    found = true;
    EXPECT_EQ(w.address, "10.1.2.3");
    EXPECT_EQ(w.queues, (std::vector<std::string>{"metered"}));
  }
  EXPECT_TRUE(found) << "remote-0 is not in the coordinator's registry";
  ASSERT_TRUE(api_a.DeregisterWorker("remote-0").ok());
  EXPECT_THAT(Ids(*QueueView()), ::testing::Not(::testing::Contains("remote-0")));

  ASSERT_TRUE(a.StartMaintenance().ok());
  ASSERT_TRUE(b.StartMaintenance().ok());
  EXPECT_TRUE(Eventually([&] { return a.is_leader() || b.is_leader(); }, absl::Seconds(10)));
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(a.is_leader() && b.is_leader());
    absl::SleepFor(absl::Milliseconds(50));
  }
  a.Stop();
  b.Stop();
}

// A job-name rate limit behind two servers of one queue: jobs over it are
// held at each server for its worker's next fetch (see
// core/remote_workers.cc), and the tokens that release them come from the
// one limiter in the coordinator, so the starts through both servers
// together keep to the limit: GCRA without burst (coord/gcra.h) spaces them
// one emission interval apart, at most limit + 1 in any window of one
// period. Every held job is handed out in the end, once.
TEST_P(QueueCoordTest, RemoteWorkersShareAJobNameRateLimitAcrossServers) {
  constexpr int kLimit = 10;  // per second: one start every 100 ms
  const absl::Duration period = absl::Seconds(1);
  const absl::Duration interval = period / kLimit;
  constexpr int kJobs = 20;
  QueueConfig ca = Config("server-a");
  QueueConfig cb = Config("server-b");
  for (QueueConfig* c : {&ca, &cb}) {
    c->worker.job_rate_limits["sms"] = {.limit = kLimit, .period = period};
  }
  Queue a(ca);
  Queue b(cb);
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(b.status().ok()) << b.status();
  for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(a.Enqueue("sms", "{}").ok());
  RemoteWorkerApi api_a(a);
  RemoteWorkerApi api_b(b);

  // One worker per server, fetching in turn (so the take of the k-th job
  // handed out lies in its fetch's [before, after]); each fetch claims up to
  // 5, so both servers soon hold jobs and compete for the name's tokens.
  struct Start {
    Job job;
    RemoteWorkerApi* api;
    absl::Time before, after;
  };
  std::vector<Start> starts;
  std::set<JobId> seen;
  int from_a = 0;
  int from_b = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int i = 0; static_cast<int>(starts.size()) < kJobs && absl::Now() < deadline; ++i) {
    const bool via_a = i % 2 == 0;
    RemoteWorkerApi& api = via_a ? api_a : api_b;
    const absl::Time before = absl::Now();
    auto jobs = api.FetchJobs({.worker_id = via_a ? "remote-a" : "remote-b", .limit = 5});
    const absl::Time after = absl::Now();
    ASSERT_TRUE(jobs.ok()) << jobs.status();
    for (Job& job : *jobs) {
      EXPECT_TRUE(seen.insert(job.id).second) << "job " << job.id << " handed out twice";
      EXPECT_EQ(job.name, "sms");
      EXPECT_EQ(job.attempt, 1) << "a held job was given back and claimed again";
      EXPECT_EQ(job.worker_id, via_a ? "remote-a" : "remote-b");
      (via_a ? from_a : from_b)++;
      starts.push_back({.job = std::move(job), .api = &api, .before = before, .after = after});
    }
    absl::SleepFor(absl::Milliseconds(5));  // the workers' polling pace
  }
  ASSERT_EQ(starts.size(), static_cast<size_t>(kJobs)) << "held jobs were not handed out in 30 s";
  EXPECT_GT(from_a, 0);
  EXPECT_GT(from_b, 0);

  // Starts j < k are more than (k - j - 1) intervals apart; with k - j =
  // limit + 1 that is the bound of one period's window. A limit per server
  // would start them twice as fast. Each start is known to lie in its
  // fetch's [before, after], so these checks err towards passing.
  int max_in_window = 0;
  std::string too_close;  // the first pair that breaks the spacing
  for (size_t j = 0; j < starts.size(); ++j) {
    int in_window = 1;  // starts surely less than a period after j's
    for (size_t k = j + 1; k < starts.size(); ++k) {
      const absl::Duration at_most = starts[k].after - starts[j].before;
      if (at_most < period) ++in_window;
      if (too_close.empty() && at_most <= interval * static_cast<int64_t>(k - j - 1)) {
        too_close =
            absl::StrCat("starts ", j, " and ", k, " within ", absl::FormatDuration(at_most));
      }
    }
    max_in_window = std::max(max_in_window, in_window);
  }
  EXPECT_EQ(too_close, "") << "the name's limit did not hold across the servers";
  const absl::Duration span = starts.back().after - starts.front().before;
  std::printf(
      "%d jobs of a %d/s name limit through two servers (%d + %d) in %.2f s; "
      "at most %d starts in a window of one period\n",
      kJobs, kLimit, from_a, from_b, absl::ToDoubleSeconds(span), max_in_window);
  EXPECT_LE(max_in_window, kLimit + 1);

  // None lost: each completes once, through the server that handed it out.
  for (const Start& s : starts) {
    ASSERT_TRUE(s.api->CompleteJob(s.job.id, s.job.lease_token).ok()) << "job " << s.job.id;
  }
  for (const Start& s : starts) {
    auto job = b.GetJob(s.job.id);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state, JobState::kCompleted) << "job " << s.job.id;
    EXPECT_EQ(job->attempt, 1) << "job " << s.job.id;
  }
  a.Stop();
  b.Stop();
}

INSTANTIATE_TEST_SUITE_P(Servers, QueueCoordTest, ::testing::ValuesIn(ServerBackends()),
                         BackendName);

TEST(QueueCacheUrlTest, BadCacheUrlsFailClearly) {
  TempDir dir;
  Queue unknown(dir.SqliteUrl(), "mongodb://localhost", "db", "c", 3);
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status())) << unknown.status();
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("cache URL"));
#if POPQUEUE_WITH_MEMCACHED
  Queue bad_port(dir.SqliteUrl(), "memcached://localhost:99999", "db", "c", 3);
  EXPECT_TRUE(absl::IsInvalidArgument(bad_port.status())) << bad_port.status();
  // Port 1 on loopback: nothing listens there.
  Queue down(dir.SqliteUrl(), "memcached://127.0.0.1:1", "db", "c", 3);
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
#endif
}

}  // namespace
}  // namespace popqueue::coord::testing
