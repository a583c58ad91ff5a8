// The Dispatcher on a real Queue (SQLite in a temp dir): notifications never
// slow job processing, even when the endpoint hangs; the bounded queue drops
// and counts; shutdown is prompt; backlog notifications fire once per
// crossing.
#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "notify/notifier.h"
#include "popqueue/queue.h"
#include "popqueue/remote_worker.h"
#include "store/registry.h"
#include "tests/notify/test_http_server.h"
#include "tests/support/queue_config.h"
#include "tests/support/test_util.h"

namespace popqueue::notify {
namespace {

using popqueue::testing::TempDir;
using testing::TestHttpServer;

QueueConfig FastConfig(const TempDir& dir, int retries) {
  QueueConfig c = popqueue::testing::FastQueueConfig(dir, retries);
  c.worker.retry.base = absl::Milliseconds(1);
  c.worker.default_concurrency = 4;
  return c;
}

// Counts kDead events; the test waits on it instead of sleeping.
class DeadCounter {
 public:
  EventListener Listener() {
    return [this](const JobEvent& e) {
      if (e.kind != JobEvent::Kind::kDead) return;
      MutexLock lock(&mu_);
      ++dead_;
    };
  }
  bool WaitFor(int n, absl::Duration timeout) {
    MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return dead_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  Mutex mu_;
  int dead_ ABSL_GUARDED_BY(mu_) = 0;
};

NotifyConfig HookConfig(const std::string& url, size_t capacity) {
  WebhookConfig w;
  w.url = url;
  w.secret = "s";
  w.delivery = {.timeout = absl::Seconds(60),
                .max_attempts = 3,
                .backoff = absl::Milliseconds(10),
                .max_backoff = absl::Seconds(1)};
  w.events = {kEventJobDead, kEventJobFailed, kEventQueueBacklog};
  NotifyConfig c;
  c.webhook = w;
  c.queue_capacity = capacity;
  return c;
}

TEST(Dispatcher, HangingEndpointNeverSlowsJobProcessing) {
  constexpr int kJobs = 40;
  constexpr size_t kCapacity = 5;
  TestHttpServer hanging(nullptr, /*hang=*/true);
  TempDir dir;
  Queue queue(FastConfig(dir, /*retries=*/1));  // 2 attempts: job.failed, then job.dead
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  ASSERT_TRUE(queue.Define("doomed", [](const Job&) { return false; }).ok());
  DeadCounter dead;
  ASSERT_TRUE(queue.OnEvent(dead.Listener()).ok());
  auto dispatcher = Dispatcher::Create(HookConfig(hanging.Url(), kCapacity));
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  ASSERT_TRUE((*dispatcher)->Attach(queue).ok());

  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(queue.Enqueue("doomed", std::to_string(i)).ok());
  }
  absl::Time start = absl::Now();
  ASSERT_TRUE(queue.StartInBackground().ok());
  // Every job fails twice and dies, at the queue's own pace: each of the 80
  // notifications would hang for 60 s if it were sent on the workers' path.
  ASSERT_TRUE(dead.WaitFor(kJobs, absl::Seconds(30)));
  absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(20));
  queue.Stop();

  ASSERT_TRUE(hanging.WaitForRequests(1));  // one delivery is hanging
  NotifyCounters before = (*dispatcher)->counters();
  EXPECT_EQ(before.sent, 0);
  // 80 notifications; at most 1 in flight + kCapacity queued, the rest dropped.
  EXPECT_GE(before.dropped, 2 * kJobs - 1 - static_cast<int64_t>(kCapacity));

  absl::Time stop_start = absl::Now();
  (*dispatcher)->Stop(absl::Milliseconds(50));
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(3));
  NotifyCounters after = (*dispatcher)->counters();
  EXPECT_EQ(after.sent + after.failed + after.dropped, 2 * kJobs);
  hanging.ReleaseHanging();
}

TEST(Dispatcher, DeliversJobEventsFromARealQueue) {
  TestHttpServer server(nullptr);
  TempDir dir;
  Queue queue(FastConfig(dir, /*retries=*/1));
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  ASSERT_TRUE(queue.Define("doomed", [](const Job&) { return false; }).ok());
  DeadCounter dead;
  ASSERT_TRUE(queue.OnEvent(dead.Listener()).ok());
  auto dispatcher = Dispatcher::Create(HookConfig(server.Url(), 100));
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  ASSERT_TRUE((*dispatcher)->Attach(queue).ok());
  EnqueueOptions options;
  options.identifier = "only-one";
  ASSERT_TRUE(queue.Enqueue("doomed", "payload-1", options).ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(dead.WaitFor(1, absl::Seconds(30)));
  queue.Stop();
  ASSERT_TRUE((*dispatcher)->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ((*dispatcher)->counters().sent, 2);

  std::vector<testing::RecordedRequest> r = server.requests();
  ASSERT_EQ(r.size(), 2u);
  nlohmann::json failed = nlohmann::json::parse(r[0].body);
  nlohmann::json died = nlohmann::json::parse(r[1].body);
  EXPECT_EQ(failed["event"], "job.failed");
  EXPECT_EQ(failed["job"]["attempt"], 1);
  EXPECT_TRUE(failed["job"].contains("nextRunAt"));
  EXPECT_EQ(died["event"], "job.dead");
  EXPECT_EQ(died["job"]["attempt"], 2);
  EXPECT_EQ(died["job"]["maxAttempts"], 2);
  EXPECT_EQ(died["job"]["name"], "doomed");
  EXPECT_EQ(died["job"]["identifier"], "only-one");
  EXPECT_EQ(died["job"]["data"], "payload-1");
  EXPECT_EQ(died["queue"], "default");
  EXPECT_NE(died["deliveryId"], failed["deliveryId"]);
}

// A remote worker's outcomes (RemoteWorkerApi, behind gRPC FailJob) raise
// the same notifications: job.failed for a retried attempt, job.dead for the
// FailJob that dead-letters the job.
TEST(Dispatcher, DeliversRemoteWorkersOutcomes) {
  TestHttpServer server(nullptr);
  TempDir dir;
  Queue queue(FastConfig(dir, /*retries=*/1));
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  auto dispatcher = Dispatcher::Create(HookConfig(server.Url(), 100));
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  ASSERT_TRUE((*dispatcher)->Attach(queue).ok());
  ASSERT_TRUE(queue.Enqueue("remote-doomed", "payload-r").ok());
  RemoteWorkerApi api(queue);
  for (int attempt = 1; attempt <= 2; ++attempt) {
    std::vector<Job> jobs;
    for (int i = 0; i < 200 && jobs.empty(); ++i) {  // the retry is due after 1 ms
      auto fetched = api.FetchJobs({.worker_id = "py-remote", .limit = 1});
      ASSERT_TRUE(fetched.ok()) << fetched.status();
      jobs = *fetched;
      if (jobs.empty()) absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(jobs.size(), 1u) << "attempt " << attempt;
    auto outcome = api.FailJob(jobs[0].id, jobs[0].lease_token, "remote failure");
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(outcome->state, attempt == 1 ? JobState::kRetryable : JobState::kDead);
  }
  ASSERT_TRUE((*dispatcher)->WaitIdle(absl::Seconds(10)));
  std::vector<testing::RecordedRequest> r = server.requests();
  ASSERT_EQ(r.size(), 2u);
  nlohmann::json failed = nlohmann::json::parse(r[0].body);
  nlohmann::json died = nlohmann::json::parse(r[1].body);
  EXPECT_EQ(failed["event"], "job.failed");
  EXPECT_EQ(died["event"], "job.dead");
  EXPECT_EQ(died["job"]["name"], "remote-doomed");
  EXPECT_EQ(died["job"]["attempt"], 2);
  EXPECT_EQ(died["job"]["data"], "payload-r");
}

// The body of each queue.backlog delivered to `server` so far.
std::vector<nlohmann::json> BacklogDeliveries(const TestHttpServer& server) {
  std::vector<nlohmann::json> out;
  for (const testing::RecordedRequest& r : server.requests()) {
    nlohmann::json body = nlohmann::json::parse(r.body);
    if (body["event"] == "queue.backlog") out.push_back(std::move(body));
  }
  return out;
}

// The backlog is a cluster fact evaluated by the maintenance leader: a
// queue that takes part in the election and leads.
void Lead(Queue& queue) {
  ASSERT_TRUE(queue.StartMaintenance().ok());
  ASSERT_TRUE(popqueue::testing::Eventually([&] { return queue.is_leader(); }));
}

TEST(Dispatcher, BacklogFiresOncePerCrossingWithHysteresis) {
  TestHttpServer server(nullptr);
  TempDir dir;
  Queue queue(FastConfig(dir, 0));
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  NotifyConfig config = HookConfig(server.Url(), 100);
  config.backlog =
      BacklogConfig{.threshold = 4, .clear_threshold = 2, .check_interval = absl::Hours(1)};
  auto dispatcher = Dispatcher::Create(config);
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  Dispatcher& d = **dispatcher;
  ASSERT_NO_FATAL_FAILURE(Lead(queue));

  std::vector<JobId> ids;
  auto enqueue = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto id = queue.Enqueue("x", "");
      ASSERT_TRUE(id.ok()) << id.status();
      ids.push_back(id->id);
    }
  };
  auto drop = [&](int n) {  // n waiting jobs leave `available`
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(queue.Cancel(ids.back()).ok());
      ids.pop_back();
    }
  };
  enqueue(4);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 4: not over
  enqueue(1);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 5: fires
  enqueue(1);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 6: still over, quiet
  drop(3);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 3: under, but above the clear level 2
  enqueue(2);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 5: over again, not told (not rearmed)
  drop(3);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 2: at the clear level: rearmed
  enqueue(3);
  ASSERT_TRUE(d.CheckBacklog(queue).ok());  // 5: fires again
  ASSERT_TRUE(d.WaitIdle(absl::Seconds(10)));
  queue.Stop();

  std::vector<nlohmann::json> told = BacklogDeliveries(server);
  ASSERT_EQ(told.size(), 2u);
  for (const nlohmann::json& body : told) {
    EXPECT_EQ(body["queue"], "default");
    EXPECT_EQ(body["backlog"]["count"], 5);
    EXPECT_EQ(body["backlog"]["threshold"], 4);
  }
}

TEST(Dispatcher, BacklogDefaultClearLevelIsAFifthBelowTheThreshold) {
  EXPECT_EQ((BacklogConfig{.threshold = 500}.clear_level()), 400);
  EXPECT_EQ((BacklogConfig{.threshold = 4}.clear_level()), 4);  // a fifth of 4 rounds to 0
  EXPECT_EQ((BacklogConfig{.threshold = 10, .clear_threshold = 0}.clear_level()), 0);
}

TEST(Dispatcher, BacklogIsNotCheckedByAProcessThatDoesNotLead) {
  TestHttpServer server(nullptr);
  TempDir dir;
  Queue queue(FastConfig(dir, 0));  // no workers, no maintenance: never leads
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  NotifyConfig config = HookConfig(server.Url(), 100);
  config.backlog = BacklogConfig{.threshold = 1, .check_interval = absl::Hours(1)};
  auto dispatcher = Dispatcher::Create(config);
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.Enqueue("x", "").ok());
  ASSERT_TRUE((*dispatcher)->CheckBacklog(queue).ok());
  ASSERT_TRUE((*dispatcher)->WaitIdle(absl::Seconds(10)));
  EXPECT_TRUE(BacklogDeliveries(server).empty());
}

// Two processes' worth of Queues on one store, each with its own dispatcher
// checking every 20 ms: the backlog is told once, by the leader, not once
// per process.
TEST(Dispatcher, BacklogIsToldOnceAcrossTwoQueues) {
  TestHttpServer server(nullptr);
  TempDir dir;
  QueueConfig qc = FastConfig(dir, 0);
  qc.worker.rescue_interval = absl::Milliseconds(50);
  Queue a(qc), b(qc);
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(b.status().ok()) << b.status();
  NotifyConfig config = HookConfig(server.Url(), 100);
  config.backlog = BacklogConfig{.threshold = 2, .check_interval = absl::Milliseconds(20)};
  std::unique_ptr<Dispatcher> dispatchers[2];
  Queue* queues[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    auto d = Dispatcher::Create(config);
    ASSERT_TRUE(d.ok()) << d.status();
    dispatchers[i] = std::move(*d);
    ASSERT_TRUE(dispatchers[i]->Attach(*queues[i]).ok());
    ASSERT_TRUE(queues[i]->StartMaintenance().ok());
  }
  ASSERT_TRUE(popqueue::testing::Eventually([&] { return a.is_leader() || b.is_leader(); }));
  EXPECT_FALSE(a.is_leader() && b.is_leader());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a.Enqueue("x", "", {.queue = "waiting"}).ok());
  }
  ASSERT_TRUE(popqueue::testing::Eventually([&] { return !BacklogDeliveries(server).empty(); }));
  absl::SleepFor(absl::Milliseconds(500));  // 25 more checks in each process
  for (auto& d : dispatchers) ASSERT_TRUE(d->WaitIdle(absl::Seconds(10)));
  std::vector<nlohmann::json> told = BacklogDeliveries(server);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0]["queue"], "waiting");
  EXPECT_EQ(told[0]["backlog"]["count"], 5);
  for (auto& d : dispatchers) d->Stop();
  a.Stop();
  b.Stop();
}

// A worker that died during a job's last attempt: the rescuer dead-letters
// the job, and job.dead is delivered once although two processes (two
// Queues on one store, each with its own dispatcher) watch it: the store
// names the job to the one rescue that moved it.
TEST(Dispatcher, RescuedDeadJobIsDeliveredOnceAcrossTwoQueues) {
  TestHttpServer server(nullptr);
  TempDir dir;
  QueueConfig config = FastConfig(dir, /*retries=*/0);
  config.worker.rescue_interval = absl::Milliseconds(50);
  Queue a(config), b(config);
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto id = a.Enqueue("lost", "payload");
  ASSERT_TRUE(id.ok()) << id.status();
  {
    // The worker that claims it and dies: its lease runs out.
    auto store = store::OpenStore({.url = dir.SqliteUrl(), .collection = config.collection});
    ASSERT_TRUE(store.ok()) << store.status();
    auto claimed = (*store)->JobClaim({.queues = {"default"},
                                       .worker_id = "killed-worker",
                                       .limit = 1,
                                       .now = absl::Now(),
                                       .lease = absl::Milliseconds(100),
                                       .lease_token = 99});
    ASSERT_TRUE(claimed.ok()) << claimed.status();
    ASSERT_EQ(claimed->size(), 1u);
  }
  std::unique_ptr<Dispatcher> dispatchers[2];
  Queue* queues[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(queues[i]->Define("lost", [](const Job&) { return true; }).ok());
    auto d = Dispatcher::Create(HookConfig(server.Url(), 100));
    ASSERT_TRUE(d.ok()) << d.status();
    dispatchers[i] = std::move(*d);
    ASSERT_TRUE(dispatchers[i]->Attach(*queues[i]).ok());
  }
  ASSERT_TRUE(a.StartInBackground().ok());
  ASSERT_TRUE(b.StartInBackground().ok());
  ASSERT_TRUE(popqueue::testing::Eventually([&] {
    auto job = a.GetJob(id->id);
    return job.ok() && job->state == JobState::kDead;
  }));
  // Both rescuers have had many rounds by now.
  absl::SleepFor(absl::Milliseconds(500));
  a.Stop();
  b.Stop();
  for (auto& d : dispatchers) ASSERT_TRUE(d->WaitIdle(absl::Seconds(10)));

  int dead = 0;
  for (const testing::RecordedRequest& r : server.requests()) {
    nlohmann::json body = nlohmann::json::parse(r.body);
    if (body["event"] != "job.dead") continue;
    ++dead;
    EXPECT_EQ(body["job"]["id"], absl::StrCat(id->id));
    EXPECT_EQ(body["job"]["name"], "lost");
    EXPECT_THAT(body["job"]["error"].get<std::string>(), ::testing::HasSubstr("lease expired"));
  }
  EXPECT_EQ(dead, 1);
}

TEST(Dispatcher, ListenerOutlivesTheDispatcher) {
  EventListener listener;
  {
    auto dispatcher = Dispatcher::Create(HookConfig("http://127.0.0.1:9/none", 10));
    ASSERT_TRUE(dispatcher.ok());
    listener = (*dispatcher)->Listener();
  }
  JobEvent e{.kind = JobEvent::Kind::kDead};
  e.job.id = 1;
  listener(e);  // dropped and counted by a stopped lane; no crash
}

TEST(Dispatcher, RendersCountersForPrometheus) {
  std::vector<ChannelCounters> counters = {
      {.channel = "webhook",
       .counters = {.sent = 3, .failed = 1, .dropped = 2, .retried = 4},
       .queued = 5}};
  std::string text = RenderPrometheus(counters);
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "popqueue_notifications_total{channel=\"webhook\",outcome=\"sent\"} 3\n"));
  EXPECT_THAT(text,
              ::testing::HasSubstr(
                  "popqueue_notifications_total{channel=\"webhook\",outcome=\"dropped\"} 2\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("popqueue_notifications_queued{channel=\"webhook\"} 5\n"));
}

TEST(Dispatcher, CreateNeedsAChannel) {
  absl::StatusOr<std::unique_ptr<Dispatcher>> d = Dispatcher::Create(NotifyConfig{});
  EXPECT_TRUE(absl::IsInvalidArgument(d.status())) << d.status();
}

}  // namespace
}  // namespace popqueue::notify
