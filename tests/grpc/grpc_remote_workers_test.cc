// Remote workers as first-class workers, over the wire: the limits of the
// server's WorkerOptions and paused queues honoured by FetchJobs, the worker
// registry written by FetchJobs/Heartbeat/RegisterWorker, the job events of
// remote outcomes (metrics and notifications listen to them), and the
// long-poll FetchJobs woken by an enqueue. A GrpcServer on a free port over
// a Queue on a temporary SQLite file, called through the generated stub.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "popqueue.grpc.pb.h"
#include "popqueue/queue.h"
#include "server/grpc/grpc_server.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using popqueue::testing::FakeClock;
using popqueue::testing::TempDir;
using ::testing::ElementsAre;

class RemoteWorkersTest : public ::testing::Test {
 protected:
  // Opens the queue with `edit` applied to its config, and a server on it.
  void Open(const std::function<void(QueueConfig&)>& edit = {},
            const std::function<void(Queue&)>& before_serving = {}) {
    QueueConfig config{.db_url = dir_.SqliteUrl(), .retries = 0, .clock = &clock_};
    config.worker.handle_signals = false;
    config.worker.poll_interval = absl::Seconds(5);  // so only a notification wakes early
    if (edit) edit(config);
    auto queue = Queue::Open(config);
    ASSERT_TRUE(queue.ok()) << queue.status();
    queue_ = std::move(*queue);
    if (before_serving) before_serving(*queue_);
    auto server = GrpcServer::Start(queue_.get(), {.address = "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = PopQueue::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                                  grpc::InsecureChannelCredentials()));
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  void EnqueueN(int n, const std::string& queue = "default", const std::string& name = "job") {
    for (int i = 0; i < n; ++i) {
      auto r = queue_->Enqueue(name, "{}", {.queue = queue});
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  std::vector<LeasedJob> Fetch(const std::string& worker, int limit,
                               std::vector<std::string> queues = {},
                               absl::Duration wait = absl::ZeroDuration()) {
    FetchJobsRequest req;
    req.set_worker_id(worker);
    req.set_limit(limit);
    for (const std::string& q : queues) req.add_queues(q);
    if (wait > absl::ZeroDuration()) {
      req.mutable_wait()->set_seconds(absl::ToInt64Seconds(wait));
      req.mutable_wait()->set_nanos(
          static_cast<int>(absl::ToInt64Nanoseconds(wait % absl::Seconds(1))));
    }
    FetchJobsResponse resp;
    grpc::Status s = stub_->FetchJobs(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.jobs().begin(), resp.jobs().end()};
  }

  grpc::Status Complete(const LeasedJob& leased) {
    CompleteJobRequest req;
    req.set_job_id(leased.job().id());
    req.set_lease_token(leased.lease_token());
    CompleteJobResponse resp;
    return stub_->CompleteJob(Ctx().get(), req, &resp);
  }

  std::optional<WorkerInfo> Listed(const std::string& id) {
    auto workers = queue_->ListWorkers();
    EXPECT_TRUE(workers.ok()) << workers.status();
    if (!workers.ok()) return std::nullopt;
    for (const WorkerInfo& w : *workers) {
      if (w.id == id) return w;
    }
    return std::nullopt;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<PopQueue::Stub> stub_;
};

TEST_F(RemoteWorkersTest, FetchHonoursPerQueueConcurrencyPerWorker) {
  Open([](QueueConfig& c) { c.worker.concurrency["mail"] = 2; });
  EnqueueN(5, "mail");
  EXPECT_EQ(Fetch("a", 10, {"mail"}).size(), 2u);
  EXPECT_EQ(Fetch("a", 10, {"mail"}).size(), 0u);  // holds its 2
  auto b = Fetch("b", 10, {"mail"});               // another worker has its own slots
  ASSERT_EQ(b.size(), 2u);
  ASSERT_TRUE(Complete(b[0]).ok());
  EXPECT_EQ(Fetch("b", 10, {"mail"}).size(), 1u);  // the finished one's slot is free
}

TEST_F(RemoteWorkersTest, FetchHonoursMaxConcurrencyAcrossQueues) {
  Open([](QueueConfig& c) { c.worker.max_concurrency = 3; });
  EnqueueN(4, "q1");
  EnqueueN(4, "q2");
  auto got = Fetch("w", 10, {"q1", "q2"});
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(Fetch("w", 10, {"q1", "q2"}).size(), 0u);
  // A lease that ran out frees its slot (the rescuer takes the job back).
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(Fetch("w", 10, {"q1", "q2"}).size(), 3u);
}

TEST_F(RemoteWorkersTest, FetchHonoursTheQueueRateLimit) {
  Open([](QueueConfig& c) {
    c.worker.queue_rate_limits["slow"] = {.limit = 2, .period = absl::Minutes(10)};
  });
  EnqueueN(6, "slow");
  size_t total = 0;
  for (int i = 0; i < 6; ++i) total += Fetch("w" + std::to_string(i), 10, {"slow"}).size();
  // Every worker together: two per ten minutes (the gate spreads them, so
  // one now and the next five minutes later).
  EXPECT_GE(total, 1u);
  EXPECT_LE(total, 2u);
  EnqueueN(1, "free");
  EXPECT_EQ(Fetch("w", 10, {"free"}).size(), 1u);  // other queues are not limited
}

// A job over its name's rate limit is held at the server, its lease kept
// alive, and handed to the worker's next fetch when its turn comes (as the
// library's workers hold it); at shutdown it is given back.
TEST_F(RemoteWorkersTest, JobsOverTheirNameRateLimitWaitAtTheServer) {
  Open([](QueueConfig& c) {
    // 5 per second, taken one at a time: a start every 200 ms.
    c.worker.job_rate_limits["tick"] = {.limit = 5, .period = absl::Seconds(1)};
    c.worker.job_rate_limits["sms"] = {.limit = 1, .period = absl::Hours(1)};
  });
  EnqueueN(3, "default", "tick");
  auto first = Fetch("w", 10);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].job().name(), "tick");
  EXPECT_TRUE(Fetch("w", 10).empty());  // the other two wait for their turn
  absl::SleepFor(absl::Milliseconds(300));
  auto second = Fetch("w", 10);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job().attempt(), 1);  // claimed once, never given back
  EXPECT_EQ(second[0].job().worker_id(), "w");

  // A held job's lease is kept alive while it waits.
  EnqueueN(2, "sms-q", "sms");
  auto sms = Fetch("s", 10, {"sms-q"});
  ASSERT_EQ(sms.size(), 1u);
  std::string held_id;
  {
    ListJobsRequest req;
    req.set_queue("sms-q");
    ListJobsResponse resp;
    ASSERT_TRUE(stub_->ListJobs(Ctx().get(), req, &resp).ok());
    for (const JobRecord& j : resp.jobs()) {
      if (j.id() != sms[0].job().id()) held_id = j.id();
    }
  }
  ASSERT_FALSE(held_id.empty());
  auto lease_end = [&] {
    GetJobRequest req;
    req.set_job_id(held_id);
    JobRecord job;
    EXPECT_TRUE(stub_->GetJob(Ctx().get(), req, &job).ok());
    EXPECT_EQ(job.state(), "running");
    return job.lease_expires_at().seconds();
  };
  const int64_t before = lease_end();
  clock_.Advance(absl::Seconds(20));  // two thirds of the 30 s lease
  const int64_t want = absl::ToUnixSeconds(clock_.Now()) + 30;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (lease_end() != want && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(lease_end(), want) << "the keeper did not extend the held job's lease (was " << before
                               << ")";

  // At shutdown the held jobs go back: retryable at once.
  server_->Stop();
  queue_->Stop();
  auto job = queue_->GetJob(std::stoll(held_id));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, JobState::kRetryable);
}

TEST_F(RemoteWorkersTest, PausedQueueGivesNothingUntilResumed) {
  Open();
  EnqueueN(2, "p");
  ASSERT_TRUE(queue_->PauseQueue("p").ok());
  EXPECT_EQ(Fetch("w", 10, {"p"}).size(), 0u);
  ASSERT_TRUE(queue_->ResumeQueue("p").ok());
  EXPECT_EQ(Fetch("w", 10, {"p"}).size(), 2u);
}

TEST_F(RemoteWorkersTest, FetchAndHeartbeatRegisterTheWorkerUntilItGoesSilent) {
  Open();
  EnqueueN(2, "reg");
  auto jobs = Fetch("py-1", 1, {"reg", "other"});
  ASSERT_EQ(jobs.size(), 1u);
  std::optional<WorkerInfo> w = Listed("py-1");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->address, "127.0.0.1");  // the gRPC peer
  EXPECT_THAT(w->queues, ElementsAre("other", "reg"));
  EXPECT_EQ(w->running, 1);
  EXPECT_EQ(w->last_heartbeat_at, clock_.Now());

  // A heartbeat with the worker id keeps the entry alive past the ttl
  // (3 x min(heartbeat 10s, lease/3) + 5s = 35s).
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Seconds(15));
    HeartbeatRequest hb;
    hb.set_worker_id("py-1");
    HeartbeatItem* item = hb.add_items();
    item->set_job_id(jobs[0].job().id());
    item->set_lease_token(jobs[0].lease_token());
    HeartbeatResponse hr;
    ASSERT_TRUE(stub_->Heartbeat(Ctx().get(), hb, &hr).ok());
    ASSERT_TRUE(Listed("py-1").has_value()) << "after " << (i + 1) * 15 << "s";
  }
  // Silent for longer than the ttl: it drops out.
  clock_.Advance(absl::Seconds(40));
  EXPECT_FALSE(Listed("py-1").has_value());
}

TEST_F(RemoteWorkersTest, RegisterAndDeregisterWorker) {
  Open();
  RegisterWorkerRequest reg;
  reg.set_worker_id("go-7");
  reg.add_queues("mail");
  reg.set_host("box-7");
  reg.set_pid(4242);
  RegisterWorkerResponse rr;
  grpc::Status s = stub_->RegisterWorker(Ctx().get(), reg, &rr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::optional<WorkerInfo> w = Listed("go-7");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->host, "box-7");
  EXPECT_EQ(w->pid, 4242);
  EXPECT_EQ(w->address, "127.0.0.1");
  EXPECT_THAT(w->queues, ElementsAre("mail"));

  DeregisterWorkerRequest dereg;
  dereg.set_worker_id("go-7");
  DeregisterWorkerResponse dr;
  ASSERT_TRUE(stub_->DeregisterWorker(Ctx().get(), dereg, &dr).ok());
  EXPECT_FALSE(Listed("go-7").has_value());

  RegisterWorkerRequest bad;
  s = stub_->RegisterWorker(Ctx().get(), bad, &rr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("worker_id"));
}

TEST_F(RemoteWorkersTest, RemoteOutcomesRaiseTheJobEvents) {
  std::vector<std::string> events;
  Mutex mu;
  Open({}, [&](Queue& q) {
    ASSERT_TRUE(q.OnEvent([&](const JobEvent& e) {
                   MutexLock lock(&mu);
                   events.push_back(std::string(JobEventKindName(e.kind)) + " " + e.job.name);
                 }).ok());
  });
  ASSERT_TRUE(queue_->Enqueue("ok", "{}").ok());
  ASSERT_TRUE(queue_->Enqueue("bad", "{}").ok());
  auto jobs = Fetch("w", 10);
  ASSERT_EQ(jobs.size(), 2u);
  for (const LeasedJob& leased : jobs) {
    if (leased.job().name() == "ok") {
      ASSERT_TRUE(Complete(leased).ok());
    } else {
      FailJobRequest req;
      req.set_job_id(leased.job().id());
      req.set_lease_token(leased.lease_token());
      req.set_error("boom");
      FailJobResponse resp;
      ASSERT_TRUE(stub_->FailJob(Ctx().get(), req, &resp).ok());
      EXPECT_EQ(resp.state(), "dead");  // retries = 0
    }
  }
  MutexLock lock(&mu);
  std::vector<std::string> sorted = events;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_THAT(sorted, ElementsAre("completed ok", "dead bad", "started bad", "started ok"));
}

TEST_F(RemoteWorkersTest, LongPollIsWokenByAnEnqueue) {
  Open();
  // Enqueue-to-start latency: from the Enqueue call to the job in the
  // waiting worker's hands.
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {  // an odd count: ms[10] is the median
    std::atomic<int64_t> got_at{0};
    std::thread fetcher([&] {
      auto jobs = Fetch("poller", 1, {"lp"}, absl::Seconds(10));
      EXPECT_EQ(jobs.size(), 1u);
      got_at = absl::ToUnixNanos(absl::Now());
    });
    absl::SleepFor(absl::Milliseconds(50));  // the fetch is waiting by now
    const absl::Time enqueued = absl::Now();
    ASSERT_TRUE(queue_->Enqueue("job", "{}", {.queue = "lp"}).ok());
    fetcher.join();
    ms.push_back(absl::ToDoubleMilliseconds(absl::FromUnixNanos(got_at) - enqueued));
  }
  std::sort(ms.begin(), ms.end());
  std::printf("long-poll enqueue-to-start latency over %zu runs: median %.2f ms, max %.2f ms\n",
              ms.size(), ms[ms.size() / 2], ms.back());
  // Issue 25's bound: woken within 10 ms of the enqueue (the median; under
  // 1 ms on an idle machine). The maximum is bounded loosely, so one
  // scheduling hiccup of a loaded CI runner does not fail it; without the
  // wake-up every sample would wait for the poll interval, 5 s here.
  EXPECT_LT(ms[ms.size() / 2], 10.0);
  EXPECT_LT(ms.back(), 1000.0);
}

TEST_F(RemoteWorkersTest, LongPollEndsAtItsWaitAndAtShutdown) {
  Open();
  absl::Time t0 = absl::Now();
  EXPECT_TRUE(Fetch("w", 1, {"none"}, absl::Milliseconds(300)).empty());
  absl::Duration took = absl::Now() - t0;
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Seconds(3));

  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(300));
    server_->Stop();
  });
  t0 = absl::Now();
  EXPECT_TRUE(Fetch("w", 1, {"none"}, absl::Seconds(15)).empty());  // OK, no jobs
  took = absl::Now() - t0;
  stopper.join();
  EXPECT_LT(took, absl::Seconds(3)) << "the server's shutdown did not end the wait";
}

}  // namespace
}  // namespace popqueue::server
