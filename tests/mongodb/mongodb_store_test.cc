// MongoDB store behaviour on each real MongoDB-wire server (FerretDB and
// mongo-java-server, or a real MongoDB; mongo_test_util.h): the parts that its
// portable mechanisms (unique_key instead of a partial index, compensation
// instead of transactions, claim by conditional bulk update) must get right.
// The shared conformance suite covers the whole contract.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "mongo_test_util.h"
#include "store/mongodb/mongo_client.h"
#include "store/store.h"

namespace popqueue::store {
namespace {

using ::popqueue::testing::FreshCollection;
using ::popqueue::testing::OpenOrDie;

using MongoStore = ::popqueue::testing::MongoServerTest;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

NewJob MakeJob(JobId id, std::string identifier = "", int priority = 0, absl::Time run_at = kNow,
               int max_attempts = 3) {
  return NewJob{.id = id,
                .queue = "q",
                .name = "job",
                .identifier = std::move(identifier),
                .data = "{\"n\":" + std::to_string(id) + "}",
                .priority = priority,
                .max_attempts = max_attempts,
                .run_at = run_at};
}

JobClaimParams Claim(int limit, absl::Time now = kNow) {
  return JobClaimParams{.queues = {"q"},
                        .worker_id = "w1",
                        .limit = limit,
                        .now = now,
                        .lease = absl::Seconds(30),
                        .lease_token = RandomToken()};
}

TEST_P(MongoStore, InsertDedupesIdentifiersAndRefusesTakenIds) {
  POPQUEUE_REQUIRE_MONGODB(url);
  auto store = OpenOrDie(url, FreshCollection("insert"));
  ASSERT_NE(store, nullptr);
  auto r =
      store->JobInsertMany({.jobs = {MakeJob(1, "x"), MakeJob(2, "x"), MakeJob(3)}, .now = kNow});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE((*r)[0].inserted);
  EXPECT_EQ((*r)[1].id, 1);
  EXPECT_FALSE((*r)[1].inserted);
  EXPECT_TRUE((*r)[2].inserted);
  // A later enqueue of a held identifier returns the holder.
  auto again = store->JobInsertMany({.jobs = {MakeJob(4, "x")}, .now = kNow});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].id, 1);
  EXPECT_FALSE((*again)[0].inserted);
  EXPECT_EQ((*again)[0].state, JobState::kAvailable);
  // A taken id: nothing of the batch is stored.
  auto taken = store->JobInsertMany({.jobs = {MakeJob(5, "y"), MakeJob(3)}, .now = kNow});
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists) << taken.status();
  EXPECT_EQ(store->JobGet({.id = 5}).status().code(), absl::StatusCode::kNotFound);
  // A future run_at is scheduled.
  auto later =
      store->JobInsertMany({.jobs = {MakeJob(6, "", 0, kNow + absl::Minutes(1))}, .now = kNow});
  ASSERT_TRUE(later.ok());
  EXPECT_EQ((*later)[0].state, JobState::kScheduled);
}

TEST_P(MongoStore, ClaimsInOrderSkipsPausedQueuesAndFencesCompletion) {
  POPQUEUE_REQUIRE_MONGODB(url);
  auto store = OpenOrDie(url, FreshCollection("claim"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->JobInsertMany({.jobs = {MakeJob(10, "a", 5), MakeJob(11, "", 1), MakeJob(12, "", 1),
                                    MakeJob(13, "", 0, kNow + absl::Seconds(5))},
                           .now = kNow})
          .ok());
  ASSERT_TRUE(store->QueuePause({.queue = "q", .now = kNow}).ok());
  auto none = store->JobClaim(Claim(10));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(store->QueueResume({.queue = "q", .now = kNow}).ok());

  JobClaimParams p = Claim(2);
  auto claimed = store->JobClaim(p);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].id, 11);
  EXPECT_EQ((*claimed)[1].id, 12);
  EXPECT_EQ((*claimed)[0].state, JobState::kRunning);
  EXPECT_EQ((*claimed)[0].attempt, 1);
  EXPECT_EQ((*claimed)[0].lease_token, p.lease_token);
  EXPECT_EQ((*claimed)[0].picked_at, kNow);
  EXPECT_EQ((*claimed)[0].lease_expires_at, kNow + absl::Seconds(30));

  // Job 13 becomes due at kNow+5s and then precedes job 10 (priority 0 < 5).
  auto next = store->JobClaim(Claim(5, kNow + absl::Seconds(6)));
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].id, 13);
  EXPECT_EQ((*next)[1].id, 10);

  auto done =
      store->JobCompleteMany({.items = {{.id = 11, .lease_token = p.lease_token, .result = "ok"},
                                        {.id = 12, .lease_token = p.lease_token + 1}},
                              .now = kNow});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(*done, JobIdList{11});
  auto job = store->JobGet({.id = 11});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kCompleted);
  EXPECT_EQ(job->result, "ok");
  EXPECT_EQ(job->finished_at, kNow);
  EXPECT_FALSE(job->lease_expires_at.has_value());

  // Job 10 (identifier "a") completes: the identifier is free again.
  ASSERT_TRUE(store
                  ->JobCompleteMany(
                      {.items = {{.id = 10, .lease_token = (*next)[1].lease_token}}, .now = kNow})
                  .ok());
  auto reuse = store->JobInsertMany({.jobs = {MakeJob(14, "a")}, .now = kNow});
  ASSERT_TRUE(reuse.ok());
  EXPECT_TRUE((*reuse)[0].inserted);
}

TEST_P(MongoStore, FailRetriesThenDeadAndRescuesExpiredLeases) {
  POPQUEUE_REQUIRE_MONGODB(url);
  auto store = OpenOrDie(url, FreshCollection("fail"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->JobInsertMany({.jobs = {MakeJob(20, "f", 0, kNow, 2)}, .now = kNow}).ok());
  auto c1 = store->JobClaim(Claim(1));
  ASSERT_TRUE(c1.ok() && c1->size() == 1);
  auto failed = store->JobFailMany({.items = {{.id = 20,
                                               .lease_token = (*c1)[0].lease_token,
                                               .to = JobState::kRetryable,
                                               .run_at = kNow + absl::Seconds(10),
                                               .error = "boom"}},
                                    .now = kNow});
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(*failed, JobIdList{20});
  // Not due yet.
  EXPECT_TRUE(store->JobClaim(Claim(1, kNow + absl::Seconds(9)))->empty());
  // The retry's lease expires: the rescuer makes it dead (2 of 2 attempts).
  auto c2 = store->JobClaim(Claim(1, kNow + absl::Seconds(10)));
  ASSERT_TRUE(c2.ok() && c2->size() == 1);
  EXPECT_EQ((*c2)[0].attempt, 2);
  auto rescued = store->JobRescueExpired({.now = kNow + absl::Minutes(5)});
  ASSERT_TRUE(rescued.ok()) << rescued.status();
  EXPECT_EQ(rescued->size(), 1u);
  auto job = store->JobGet({.id = 20});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kDead);
  ASSERT_EQ(job->errors.size(), 2u);
  EXPECT_EQ(job->errors[0].attempt, 1);
  EXPECT_EQ(job->errors[0].message, "boom");
  EXPECT_EQ(job->errors[1].attempt, 2);
  EXPECT_EQ(job->errors[1].message, "lease expired (worker w1)");
  // The old lease can change nothing now.
  auto stale = store->JobCompleteMany(
      {.items = {{.id = 20, .lease_token = (*c2)[0].lease_token}}, .now = kNow});
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->empty());
  // Dead: the identifier is free, so a requeue works until another job
  // takes it.
  ASSERT_TRUE(store->JobInsertMany({.jobs = {MakeJob(21, "f")}, .now = kNow}).ok());
  EXPECT_EQ(store->JobRequeue({.id = 20, .now = kNow}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->JobCancel({.id = 21, .now = kNow}).ok());
  auto requeued = store->JobRequeue({.id = 20, .now = kNow});
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(requeued->state, JobState::kAvailable);
  EXPECT_EQ(requeued->attempt, 0);
  EXPECT_EQ(requeued->errors.size(), 2u);
}

// The real clock has nanoseconds; the store keeps microseconds. The
// read-backs of heartbeat and complete must still recognize their own writes.
TEST_P(MongoStore, ReadBacksCompareTimesAsStored) {
  POPQUEUE_REQUIRE_MONGODB(url);
  auto store = OpenOrDie(url, FreshCollection("precision"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->JobInsertMany({.jobs = {MakeJob(40), MakeJob(41)}, .now = kNow}).ok());
  auto c = store->JobClaim(Claim(2));
  ASSERT_TRUE(c.ok() && c->size() == 2);
  const int64_t token = (*c)[0].lease_token;
  const absl::Time later = kNow + absl::Nanoseconds(1'234'567);  // 1.234567 ms
  auto beat = store->JobHeartbeatMany(
      {.items = {{.id = 40, .lease_token = token}, {.id = 41, .lease_token = token}},
       .now = later,
       .lease = absl::Seconds(30)});
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->extended, (JobIdList{40, 41}));
  // One lease held, one not (wrong token): the read-back path.
  auto done = store->JobCompleteMany(
      {.items = {{.id = 40, .lease_token = token}, {.id = 41, .lease_token = token + 1}},
       .now = later});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(*done, JobIdList{40});
  auto job = store->JobGet({.id = 40});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kCompleted);
}

// A claimer that stopped between writing its claim record and moving the job
// (killed, or the server restarted) leaves the record behind. Once that
// claim's lease has expired, the job is claimable again.
TEST_P(MongoStore, AbandonedClaimRecordIsReleasedAfterItsLease) {
  POPQUEUE_REQUIRE_MONGODB(url);
  const std::string collection = FreshCollection("abandoned");
  auto store = OpenOrDie(url, collection);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->JobInsertMany({.jobs = {MakeJob(50)}, .now = kNow}).ok());
  {
    // The record of claim 1 of job 50, as a claimer that died left it.
    auto pool = mongodb::Pool::Open(url);
    ASSERT_TRUE(pool.ok()) << pool.status();
    mongodb::Pool::Lease lease(pool->get());
    mongodb::Collection claims(**pool, lease, "popqueue_test", collection + "_claims");
    ASSERT_TRUE(claims
                    .InsertOne(std::move(mongodb::Doc()
                                             .Str("_id", "50:1")
                                             .Int64("job_id", 50)
                                             .Str("worker_id", "dead")
                                             .Time("at", kNow)
                                             .Time("expires", kNow + absl::Seconds(30))),
                               "test: abandoned claim")
                    .ok());
  }
  // While that claim's lease runs, the job is its.
  auto early = store->JobClaim(Claim(1, kNow + absl::Seconds(10)));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_TRUE(early->empty());
  // After it, the job is released and claimed (by the next call at the latest).
  std::vector<Job> got;
  for (int call = 0; call < 2 && got.empty(); ++call) {
    auto later = store->JobClaim(Claim(1, kNow + absl::Seconds(31)));
    ASSERT_TRUE(later.ok()) << later.status();
    got = *later;
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 50);
  EXPECT_EQ(got[0].attempt, 1);
  EXPECT_EQ(got[0].state, JobState::kRunning);
}

TEST_P(MongoStore, HeartbeatCancelDeleteAndAdmin) {
  POPQUEUE_REQUIRE_MONGODB(url);
  auto store = OpenOrDie(url, FreshCollection("admin"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->JobInsertMany({.jobs = {MakeJob(30), MakeJob(31)}, .now = kNow}).ok());
  auto c = store->JobClaim(Claim(1));
  ASSERT_TRUE(c.ok() && c->size() == 1);
  const int64_t token = (*c)[0].lease_token;
  EXPECT_EQ(store->JobDelete({.id = 30}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->JobCancel({.id = 30, .now = kNow}).ok());
  auto beat = store->JobHeartbeatMany({.items = {{.id = 30, .lease_token = token, .progress = 150},
                                                 {.id = 31, .lease_token = token}},
                                       .now = kNow + absl::Seconds(20),
                                       .lease = absl::Seconds(30)});
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->extended, JobIdList{30});
  EXPECT_EQ(beat->cancel_requested, JobIdList{30});
  auto job = store->JobGet({.id = 30});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->progress, 100);
  EXPECT_EQ(job->lease_expires_at, kNow + absl::Seconds(50));
  // Cancelling a waiting job is immediate; a final one refuses.
  auto cancelled = store->JobCancel({.id = 31, .now = kNow});
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(store->JobCancel({.id = 31, .now = kNow}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->JobDelete({.id = 31}).ok());
  EXPECT_EQ(store->JobGet({.id = 31}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->JobDelete({.id = 31}).code(), absl::StatusCode::kNotFound);

  auto counts = store->JobCountByState();
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ((*counts)[0].by_state[JobState::kRunning], 1);
  ASSERT_TRUE(store->QueuePause({.queue = "idle", .now = kNow}).ok());
  auto queues = store->QueueList();
  ASSERT_TRUE(queues.ok());
  ASSERT_EQ(queues->size(), 2u);
  EXPECT_EQ((*queues)[0].name, "idle");
  EXPECT_TRUE((*queues)[0].paused);

  // Leadership: one holder until it expires or resigns.
  LeaderAttemptElectParams a{.name = "m", .leader_id = "a", .now = kNow, .ttl = absl::Seconds(10)};
  LeaderAttemptElectParams b = a;
  b.leader_id = "b";
  EXPECT_TRUE(*store->LeaderAttemptElect(a));
  EXPECT_FALSE(*store->LeaderAttemptElect(b));
  a.now += absl::Seconds(5);
  EXPECT_TRUE(*store->LeaderAttemptElect(a));
  b.now = kNow + absl::Seconds(16);
  EXPECT_TRUE(*store->LeaderAttemptElect(b));
  ASSERT_TRUE(store->LeaderResign({.name = "m", .leader_id = "b"}).ok());
  EXPECT_TRUE(*store->LeaderAttemptElect(a));

  // Workers.
  ASSERT_TRUE(
      store
          ->WorkerRegister(
              {.worker = {.id = "w1", .host = "h", .pid = 7, .queues = {"q", "r"}}, .now = kNow})
          .ok());
  EXPECT_EQ(store->WorkerHeartbeat({.worker_id = "zz", .now = kNow}).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(
      store->WorkerHeartbeat({.worker_id = "w1", .running = 3, .now = kNow + absl::Seconds(1)})
          .ok());
  auto workers = store->WorkerList({.now = kNow, .ttl = absl::Seconds(30)});
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].queues, (std::vector<std::string>{"q", "r"}));
  EXPECT_EQ((*workers)[0].running, 3);

  // Cron: once per (schedule, fire time).
  CronFireOnceParams fire{.schedule = "s", .fire_time = kNow, .job = MakeJob(40), .now = kNow};
  EXPECT_TRUE(*store->CronFireOnce(fire));
  fire.job.id = 41;
  EXPECT_FALSE(*store->CronFireOnce(fire));
  EXPECT_EQ(store->JobGet({.id = 41}).status().code(), absl::StatusCode::kNotFound);

  // Listing, newest first, with keyset pages.
  auto page = store->JobList({.filter = {.limit = 1}});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, 40);
  ASSERT_TRUE(page->next_before_id.has_value());
  auto rest = store->JobList({.filter = {.before_id = page->next_before_id, .limit = 10}});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->jobs.size(), 1u);
  EXPECT_EQ(rest->jobs[0].id, 30);
  EXPECT_FALSE(rest->next_before_id.has_value());
}

// The write concern docs/mongodb.md advises for a replica set
// (w=majority, journal=true) rides on the URL: every write of the store
// inherits it from the driver, and each server accepts it (a standalone
// MongoDB treats majority as its one member).
TEST_P(MongoStore, MajorityJournaledWriteConcernFromTheUrl) {
  POPQUEUE_REQUIRE_MONGODB(url);
  const std::string with_concern =
      url + (url.find('?') == std::string::npos ? "?" : "&") + "w=majority&journal=true";
  auto store = OpenOrDie(with_concern, FreshCollection("concern"));
  ASSERT_NE(store, nullptr);
  auto inserted = store->JobInsertMany({.jobs = {MakeJob(70), MakeJob(71)}, .now = kNow});
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  JobClaimParams p = Claim(2);
  auto claimed = store->JobClaim(p);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  auto done = store->JobCompleteMany({.items = {{.id = 70, .lease_token = p.lease_token},
                                                {.id = 71, .lease_token = p.lease_token}},
                                      .now = kNow});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->size(), 2u);
}

// Several claimers race over the same jobs: each job is claimed (and
// completed) exactly once.
TEST_P(MongoStore, ConcurrentClaimersNeverShareAJob) {
  POPQUEUE_REQUIRE_MONGODB(url);
  auto store = OpenOrDie(url, FreshCollection("race"));
  ASSERT_NE(store, nullptr);
  constexpr int kJobs = 400;
  std::vector<NewJob> jobs;
  for (int i = 1; i <= kJobs; ++i) jobs.push_back(MakeJob(1000 + i));
  ASSERT_TRUE(store->JobInsertMany({.jobs = jobs, .now = kNow}).ok());
  std::mutex mu;
  std::map<JobId, int> seen;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      int retries = 0;
      while (!failed) {
        auto claimed = store->JobClaim(Claim(10));
        // kUnavailable: the caller may retry, as the worker runtime does.
        // mongo-java-server 1.47 drops a connection now and then when it
        // encodes a reply while another connection changes a document of it
        // (a ConcurrentModificationException in its log; docs/mongodb.md).
        if (claimed.status().code() == absl::StatusCode::kUnavailable && ++retries <= 3) {
          continue;
        }
        if (!claimed.ok()) {
          failed = true;
          ADD_FAILURE() << claimed.status();
          return;
        }
        if (claimed->empty()) return;
        JobCompleteManyParams done{.now = kNow};
        for (const Job& j : *claimed) {
          done.items.push_back({.id = j.id, .lease_token = j.lease_token});
        }
        auto ok = store->JobCompleteMany(done);
        if (!ok.ok() || ok->size() != claimed->size()) {
          failed = true;
          ADD_FAILURE() << "complete lost jobs: " << ok.status();
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        for (const Job& j : *claimed) ++seen[j.id];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "job " << id;
}

POPQUEUE_MONGODB_SERVERS(MongoStore);

}  // namespace
}  // namespace popqueue::store
