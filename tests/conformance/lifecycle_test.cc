// Conformance: what happens to a running job — completion, failure, retry,
// dead-letter, heartbeats, lease expiry and rescue, all fenced by the lease
// token — and the admin moves requeue, cancel and delete.
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;

TEST_P(StoreConformanceTest, CompleteNeedsTheLeaseToken) {
  NewJob job = Job();
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 111));
  ASSERT_EQ(claimed.size(), 1u);

  EXPECT_FALSE(Complete(job.id, 999, kT0 + absl::Seconds(1), "stale"));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.lease_token, 111);
  EXPECT_FALSE(got.result.has_value());

  EXPECT_TRUE(Complete(job.id, 111, kT0 + absl::Seconds(2), "fresh"));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kCompleted);
  EXPECT_EQ(got.finished_at, kT0 + absl::Seconds(2));
  EXPECT_EQ(got.result, "fresh");
  // A second completion is refused: the job is no longer running.
  EXPECT_FALSE(Complete(job.id, 111, kT0 + absl::Seconds(3), "again"));
}

TEST_P(StoreConformanceTest, CompleteManyReportsOnlyMatchingLeases) {
  std::vector<JobId> ids = InsertN(3);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 3, kT0, 5));
  ASSERT_EQ(claimed.size(), 3u);
  PQ_ASSERT_OK_AND_ASSIGN(auto done,
                          db().JobCompleteMany({.items = {{.id = ids[0], .lease_token = 5},
                                                          {.id = ids[1], .lease_token = 6},
                                                          {.id = 4242, .lease_token = 5},
                                                          {.id = ids[2], .lease_token = 5}},
                                                .now = kT0}));
  EXPECT_EQ(done, (std::vector<JobId>{ids[0], ids[2]}));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(ids[1]));
  EXPECT_EQ(got.state, JobState::kRunning);
}

TEST_P(StoreConformanceTest, FailToRetryableAppendsErrorAndWaits) {
  NewJob job = Job();
  job.max_attempts = 3;
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 1));
  ASSERT_EQ(claimed.size(), 1u);
  const absl::Time failed_at = kT0 + absl::Seconds(1);
  const absl::Time retry_at = kT0 + absl::Seconds(30);
  ASSERT_TRUE(Fail(job.id, 1, JobState::kRetryable, retry_at, "boom", failed_at));

  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kRetryable);
  EXPECT_EQ(got.run_at, retry_at);
  EXPECT_FALSE(got.finished_at.has_value());
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].attempt, 1);
  EXPECT_EQ(got.errors[0].at, failed_at);  // whole seconds: exact everywhere
  EXPECT_EQ(got.errors[0].message, "boom");
  EXPECT_FALSE(Fail(job.id, 1, JobState::kRetryable, retry_at, "twice"));

  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, retry_at - absl::Seconds(1), 2));
  EXPECT_TRUE(claimed.empty());
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, retry_at, 2));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 2);
  EXPECT_EQ(claimed[0].errors.size(), 1u);
  ASSERT_TRUE(Fail(job.id, 2, JobState::kRetryable, retry_at + absl::Minutes(1), "bang",
                   retry_at + absl::Seconds(1)));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  ASSERT_EQ(got.errors.size(), 2u);
  EXPECT_EQ(got.errors[1].attempt, 2);
  EXPECT_EQ(got.errors[1].message, "bang");
}

TEST_P(StoreConformanceTest, FailToDeadIsFinal) {
  NewJob job = Job();
  job.max_attempts = 1;
  job.identifier = "dies";
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 3));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_FALSE(Fail(job.id, 4, JobState::kDead, kT0, "wrong token"));
  ASSERT_TRUE(Fail(job.id, 3, JobState::kDead, kT0, "fatal", kT0 + absl::Seconds(2)));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kDead);
  EXPECT_EQ(got.finished_at, kT0 + absl::Seconds(2));
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].message, "fatal");
  // Dead is final: the identifier is free again.
  NewJob again = Job();
  again.identifier = "dies";
  PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(again));
  EXPECT_TRUE(r.inserted);
}

TEST_P(StoreConformanceTest, FailToCancelled) {
  NewJob job = Job();
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 3));
  ASSERT_TRUE(Fail(job.id, 3, JobState::kCancelled, kT0, "cancelled by user"));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kCancelled);
  EXPECT_TRUE(got.finished_at.has_value());
}

TEST_P(StoreConformanceTest, HeartbeatExtendsLeaseAndReportsLossAndCancel) {
  std::vector<JobId> ids = InsertN(3);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 3, kT0, 10, absl::Seconds(30)));
  ASSERT_EQ(claimed.size(), 3u);
  ASSERT_TRUE(Complete(ids[2], 10));  // no longer running: lost

  const absl::Time t1 = kT0 + absl::Seconds(20);
  PQ_ASSERT_OK_AND_ASSIGN(
      auto beat, db().JobHeartbeatMany({.items = {{.id = ids[0], .lease_token = 10, .progress = 40},
                                                  {.id = ids[1], .lease_token = 11},
                                                  {.id = ids[2], .lease_token = 10}},
                                        .now = t1,
                                        .lease = absl::Seconds(30)}));
  EXPECT_EQ(beat.extended, std::vector<JobId>{ids[0]});
  EXPECT_TRUE(beat.cancel_requested.empty());
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(ids[0]));
  EXPECT_EQ(got.lease_expires_at, t1 + absl::Seconds(30));
  EXPECT_EQ(got.progress, 40);
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(ids[1]));
  EXPECT_EQ(got.lease_expires_at, kT0 + absl::Seconds(30));

  PQ_ASSERT_OK_AND_ASSIGN(got, db().JobCancel({.id = ids[0], .now = t1}));
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_TRUE(got.cancel_requested);
  PQ_ASSERT_OK_AND_ASSIGN(beat, db().JobHeartbeatMany({.items = {{.id = ids[0], .lease_token = 10}},
                                                       .now = t1 + absl::Seconds(1),
                                                       .lease = absl::Seconds(30)}));
  EXPECT_EQ(beat.extended, std::vector<JobId>{ids[0]});
  EXPECT_EQ(beat.cancel_requested, std::vector<JobId>{ids[0]});
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(ids[0]));
  EXPECT_EQ(got.progress, 40);  // kept when not reported
}

// A worker that asked a handler to stop (timeout, cancel) says so with its
// heartbeats: stored with the lease (fenced), kept by beats that do not
// report it, updated when reported again, cleared by the next claim.
TEST_P(StoreConformanceTest, HeartbeatStoresStopRequestUntilNextClaim) {
  NewJob job = Job();
  job.max_attempts = 2;
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 10));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_FALSE(claimed[0].stopping.has_value());
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_FALSE(got.stopping.has_value());

  const absl::Time since = kT0 + absl::Seconds(5);
  const JobStopping stop{.reason = "timeout", .since = since};
  PQ_ASSERT_OK_AND_ASSIGN(
      auto beat, db().JobHeartbeatMany({.items = {{.id = job.id,
                                                   .lease_token = 11,
                                                   .stopping = JobStopping{.reason = "cancel"}}},
                                        .now = since,
                                        .lease = absl::Seconds(30)}));
  EXPECT_TRUE(beat.extended.empty());  // another lease: nothing written
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_FALSE(got.stopping.has_value());

  PQ_ASSERT_OK_AND_ASSIGN(
      beat, db().JobHeartbeatMany({.items = {{.id = job.id, .lease_token = 10, .stopping = stop}},
                                   .now = since,
                                   .lease = absl::Seconds(30)}));
  EXPECT_EQ(beat.extended, std::vector<JobId>{job.id});
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  ASSERT_TRUE(got.stopping.has_value());
  EXPECT_EQ(got.stopping->reason, "timeout");
  EXPECT_EQ(got.stopping->since, since);
  EXPECT_FALSE(got.stopping->overdue);

  PQ_ASSERT_OK_AND_ASSIGN(
      beat, db().JobHeartbeatMany({.items = {{.id = job.id, .lease_token = 10, .progress = 7}},
                                   .now = since + absl::Seconds(1),
                                   .lease = absl::Seconds(30)}));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  ASSERT_TRUE(got.stopping.has_value());  // kept when not reported
  EXPECT_EQ(got.stopping->reason, "timeout");
  EXPECT_EQ(got.stopping->since, since);

  PQ_ASSERT_OK_AND_ASSIGN(
      beat, db().JobHeartbeatMany(
                {.items = {{.id = job.id,
                            .lease_token = 10,
                            .stopping =
                                JobStopping{.reason = "timeout", .since = since, .overdue = true}}},
                 .now = since + absl::Seconds(2),
                 .lease = absl::Seconds(30)}));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  ASSERT_TRUE(got.stopping.has_value());
  EXPECT_TRUE(got.stopping->overdue);
  PQ_ASSERT_OK_AND_ASSIGN(JobPage page, db().JobList({}));
  ASSERT_EQ(page.jobs.size(), 1u);
  ASSERT_TRUE(page.jobs[0].stopping.has_value());
  EXPECT_EQ(page.jobs[0].stopping->reason, "timeout");

  // The attempt ends; the retry's claim starts with no stop request.
  ASSERT_TRUE(Fail(job.id, 10, JobState::kRetryable, since + absl::Seconds(3), "timed out",
                   since + absl::Seconds(3)));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, since + absl::Seconds(4), 12));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_FALSE(claimed[0].stopping.has_value());
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_FALSE(got.stopping.has_value());
}

TEST_P(StoreConformanceTest, ExpiredLeasesAreRescued) {
  NewJob again = Job();  // attempts remain: back to retryable
  again.max_attempts = 2;
  NewJob spent = Job();  // last attempt: dead
  spent.max_attempts = 1;
  NewJob cancelling = Job();  // cancel requested: cancelled
  NewJob healthy = Job();     // longer lease: untouched
  PQ_ASSERT_OK(db().JobInsertMany({.jobs = {again, spent, cancelling}, .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 3, kT0, 50, absl::Seconds(10), "w-old"));
  ASSERT_EQ(claimed.size(), 3u);
  PQ_ASSERT_OK(db().JobCancel({.id = cancelling.id, .now = kT0}));
  PQ_ASSERT_OK(Insert(healthy));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, kT0, 60, absl::Minutes(10), "w-ok"));
  ASSERT_EQ(claimed.size(), 1u);

  // A lease expires strictly after lease_expires_at.
  PQ_ASSERT_OK_AND_ASSIGN(store::JobRescueExpiredResult rescued,
                          db().JobRescueExpired({.now = kT0 + absl::Seconds(10)}));
  EXPECT_EQ(rescued.size(), 0u);
  const absl::Time t1 = kT0 + absl::Seconds(11);
  PQ_ASSERT_OK_AND_ASSIGN(rescued, db().JobRescueExpired({.now = t1}));
  // The result names each job moved and where to, and nothing else (the
  // rescuer raises job.dead from it).
  EXPECT_THAT(rescued, ::testing::UnorderedElementsAre(
                           store::RescuedJob{.id = again.id, .to = JobState::kRetryable},
                           store::RescuedJob{.id = spent.id, .to = JobState::kDead},
                           store::RescuedJob{.id = cancelling.id, .to = JobState::kCancelled}));
  PQ_ASSERT_OK_AND_ASSIGN(rescued, db().JobRescueExpired({.now = t1}));
  EXPECT_EQ(rescued.size(), 0u);

  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(again.id));
  EXPECT_EQ(got.state, JobState::kRetryable);
  EXPECT_LE(got.run_at, t1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].attempt, 1);
  EXPECT_TRUE(absl::StrContains(got.errors[0].message, "lease expired")) << got.errors[0].message;
  EXPECT_TRUE(absl::StrContains(got.errors[0].message, "w-old")) << got.errors[0].message;
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(spent.id));
  EXPECT_EQ(got.state, JobState::kDead);
  EXPECT_TRUE(got.finished_at.has_value());
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(cancelling.id));
  EXPECT_EQ(got.state, JobState::kCancelled);
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(healthy.id));
  EXPECT_EQ(got.state, JobState::kRunning);

  // The rescued job is claimable again; the old lease is fenced off.
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, t1, 70));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, again.id);
  EXPECT_EQ(claimed[0].attempt, 2);
  EXPECT_FALSE(Complete(again.id, 50, t1));
  PQ_ASSERT_OK_AND_ASSIGN(
      auto beat,
      db().JobHeartbeatMany(
          {.items = {{.id = again.id, .lease_token = 50}}, .now = t1, .lease = absl::Seconds(10)}));
  EXPECT_TRUE(beat.extended.empty());
  EXPECT_TRUE(Complete(again.id, 70, t1));
}

TEST_P(StoreConformanceTest, RescueHonoursLimit) {
  InsertN(5);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 5, kT0, 1, absl::Seconds(1)));
  ASSERT_EQ(claimed.size(), 5u);
  PQ_ASSERT_OK_AND_ASSIGN(store::JobRescueExpiredResult n,
                          db().JobRescueExpired({.now = kT0 + absl::Minutes(1), .limit = 2}));
  EXPECT_EQ(n.size(), 2u);
  PQ_ASSERT_OK_AND_ASSIGN(n, db().JobRescueExpired({.now = kT0 + absl::Minutes(1), .limit = 10}));
  EXPECT_EQ(n.size(), 3u);
}

// Rescuers racing over the same expired leases (two leaders for a moment,
// or RedistributeJobs() beside the leader): every job is named by exactly
// one of them, with the state its row shows. This is the store's side of
// "job.dead once per job across processes".
TEST_P(StoreConformanceTest, RacingRescuesNameEachJobOnce) {
  if (!GetParam().racing_writes_not_atomic.empty()) {
    GTEST_SKIP() << GetParam().racing_writes_not_atomic;
  }
  constexpr int kJobs = 40;
  std::vector<NewJob> jobs;
  for (int i = 0; i < kJobs; ++i) {
    NewJob j = Job();
    j.max_attempts = i % 2 == 0 ? 1 : 3;  // even: its last attempt, so dead
    jobs.push_back(j);
  }
  PQ_ASSERT_OK(db().JobInsertMany({.jobs = jobs, .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed,
                          Claim({"default"}, kJobs, kT0, 5, absl::Seconds(1), "w-killed"));
  ASSERT_EQ(claimed.size(), static_cast<size_t>(kJobs));

  const absl::Time later = kT0 + absl::Minutes(1);
  std::vector<store::RescuedJob> got[4];
  absl::Status status[4];
  {
    std::vector<std::thread> rescuers;
    for (int t = 0; t < 4; ++t) {
      rescuers.emplace_back([&, t] {
        // Small batches, so the rescuers interleave.
        while (true) {
          auto r = db().JobRescueExpired({.now = later, .limit = 3});
          if (!r.ok()) {
            status[t] = r.status();
            return;
          }
          if (r->empty()) return;
          got[t].insert(got[t].end(), r->begin(), r->end());
        }
      });
    }
    for (std::thread& t : rescuers) t.join();
  }
  std::map<JobId, int> named;
  std::map<JobId, JobState> to;
  for (int t = 0; t < 4; ++t) {
    PQ_ASSERT_OK(status[t]);
    for (const store::RescuedJob& r : got[t]) {
      ++named[r.id];
      to[r.id] = r.to;
    }
  }
  ASSERT_EQ(named.size(), static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(named[jobs[i].id], 1) << "job " << jobs[i].id << " named more than once";
    PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job job, Get(jobs[i].id));
    const JobState want = i % 2 == 0 ? JobState::kDead : JobState::kRetryable;
    EXPECT_EQ(job.state, want);
    EXPECT_EQ(to[jobs[i].id], want);
  }
}

TEST_P(StoreConformanceTest, RequeueFromDead) {
  NewJob job = Job();
  job.max_attempts = 1;
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 1));
  ASSERT_TRUE(Fail(job.id, 1, JobState::kDead, kT0, "oops"));

  const absl::Time t1 = kT0 + absl::Hours(1);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db().JobRequeue({.id = job.id, .now = t1}));
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
  EXPECT_EQ(got.run_at, t1);
  EXPECT_FALSE(got.finished_at.has_value());
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].message, "oops");
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kAvailable);
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, t1, 2));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 1);
}

TEST_P(StoreConformanceTest, RequeueRefusals) {
  NewJob available = Job();
  PQ_ASSERT_OK(Insert(available));
  PQ_EXPECT_CODE(db().JobRequeue({.id = available.id, .now = kT0}),
                 absl::StatusCode::kFailedPrecondition);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 1));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_EXPECT_CODE(db().JobRequeue({.id = available.id, .now = kT0}),
                 absl::StatusCode::kFailedPrecondition);
  PQ_EXPECT_CODE(db().JobRequeue({.id = 4242, .now = kT0}), absl::StatusCode::kNotFound);

  // Another non-final job holds the identifier.
  NewJob old = Job();
  old.identifier = "shared";
  old.max_attempts = 1;
  PQ_ASSERT_OK(Insert(old));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 1, kT0, 2));
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Fail(old.id, 2, JobState::kDead, kT0, "x"));
  NewJob fresh = Job();
  fresh.identifier = "shared";
  PQ_ASSERT_OK(Insert(fresh));
  PQ_EXPECT_CODE(db().JobRequeue({.id = old.id, .now = kT0}),
                 absl::StatusCode::kFailedPrecondition);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(old.id));
  EXPECT_EQ(got.state, JobState::kDead);
}

TEST_P(StoreConformanceTest, RequeueFromRetryableCompletedAndCancelled) {
  std::vector<JobId> ids = InsertN(3);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 2, kT0, 1));
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(Fail(ids[0], 1, JobState::kRetryable, kT0 + absl::Hours(1), "e"));
  ASSERT_TRUE(Complete(ids[1], 1));
  PQ_ASSERT_OK(db().JobCancel({.id = ids[2], .now = kT0}));
  for (JobId id : ids) {
    PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db().JobRequeue({.id = id, .now = kT0}));
    EXPECT_EQ(got.state, JobState::kAvailable) << id;
  }
}

TEST_P(StoreConformanceTest, Cancel) {
  NewJob available = Job(), scheduled = Job(), running = Job();
  scheduled.run_at = kT0 + absl::Hours(1);
  PQ_ASSERT_OK(Insert(running));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 1));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK(db().JobInsertMany({.jobs = {available, scheduled}, .now = kT0}));

  const absl::Time t1 = kT0 + absl::Seconds(5);
  for (JobId id : {available.id, scheduled.id}) {
    PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db().JobCancel({.id = id, .now = t1}));
    EXPECT_EQ(got.state, JobState::kCancelled);
    EXPECT_EQ(got.finished_at, t1);
  }
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db().JobCancel({.id = running.id, .now = t1}));
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_TRUE(got.cancel_requested);
  // The worker ends it; its lease still counts.
  ASSERT_TRUE(Fail(running.id, 1, JobState::kCancelled, t1, "cancelled"));

  for (JobId id : {available.id, running.id}) {
    PQ_EXPECT_CODE(db().JobCancel({.id = id, .now = t1}), absl::StatusCode::kFailedPrecondition);
  }
  PQ_EXPECT_CODE(db().JobCancel({.id = 4242, .now = t1}), absl::StatusCode::kNotFound);
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, kT0 + absl::Hours(24)));
  EXPECT_TRUE(claimed.empty());
}

TEST_P(StoreConformanceTest, Delete) {
  NewJob idle = Job(), busy = Job();
  PQ_ASSERT_OK(Insert(busy));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 1));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK(Insert(idle));

  PQ_EXPECT_OK(db().JobDelete({.id = idle.id}));
  PQ_EXPECT_CODE(Get(idle.id), absl::StatusCode::kNotFound);
  PQ_EXPECT_CODE(db().JobDelete({.id = idle.id}), absl::StatusCode::kNotFound);
  PQ_EXPECT_CODE(db().JobDelete({.id = busy.id}), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Complete(busy.id, 1));
  PQ_EXPECT_OK(db().JobDelete({.id = busy.id}));
  PQ_EXPECT_CODE(Get(busy.id), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace popqueue::conformance
