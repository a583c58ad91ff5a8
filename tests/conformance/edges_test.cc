// Conformance: the contract's edge rules (docs/store-contract.md, "Edge
// rules"), checked once in front of every backend by Store's public methods
// (store/validate.h). Each case pins one rule on every store: the code, the
// field the error names, and that a refused call changed nothing.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "store/queue_list.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;

TEST_P(StoreConformanceTest, ClaimOfZeroJobsOrNoQueuesClaimsNothing) {
  std::vector<JobId> ids = InsertN(2);
  PQ_ASSERT_OK_AND_ASSIGN(auto none, Claim({"default"}, 0));
  EXPECT_TRUE(none.empty());
  PQ_ASSERT_OK_AND_ASSIGN(none, Claim({}, 10));
  EXPECT_TRUE(none.empty());
  PQ_ASSERT_OK_AND_ASSIGN(auto job, Get(ids[0]));
  EXPECT_EQ(job.state, JobState::kAvailable);
  EXPECT_EQ(job.attempt, 0);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10));
  EXPECT_EQ(claimed.size(), 2u);
}

TEST_P(StoreConformanceTest, ClaimRefusesNegativeLimitAndNonPositiveLease) {
  std::vector<JobId> ids = InsertN(1);
  PQ_EXPECT_FIELD(Claim({"default"}, -1), "limit");
  PQ_EXPECT_FIELD(Claim({"default"}, 1, kT0, 77, absl::ZeroDuration()), "lease");
  PQ_EXPECT_FIELD(Claim({"default"}, 1, kT0, 77, -absl::Seconds(1)), "lease");

  // Refused before any queue is looked at, even a claim of 0.
  PQ_EXPECT_FIELD(Claim({"default"}, 0, kT0, 77, absl::ZeroDuration()), "lease");
  PQ_ASSERT_OK_AND_ASSIGN(auto job, Get(ids[0]));
  EXPECT_EQ(job.state, JobState::kAvailable);
}

TEST_P(StoreConformanceTest, InsertRefusesInvalidJobsAndStoresNoneOfTheBatch) {
  const std::map<std::string, std::function<void(NewJob&)>> breakers = {
      {"id", [](NewJob& j) { j.id = 0; }},
      {"queue", [](NewJob& j) { j.queue = ""; }},
      {"name", [](NewJob& j) { j.name = ""; }},
      {"max_attempts", [](NewJob& j) { j.max_attempts = 0; }},
      {"timeout", [](NewJob& j) { j.timeout = -absl::Seconds(1); }},
      {"backoff_base", [](NewJob& j) { j.backoff_base = -absl::Seconds(1); }},
  };
  for (const auto& [field, brk] : breakers) {
    SCOPED_TRACE(field);
    NewJob good = Job();
    NewJob bad = Job();
    brk(bad);
    PQ_EXPECT_FIELD(db().JobInsertMany({.jobs = {good, bad}, .now = kT0}), "jobs[1]." + field);
    PQ_EXPECT_CODE(Get(good.id), absl::StatusCode::kNotFound);
  }
  NewJob negative = Job();
  negative.id = -5;
  PQ_EXPECT_FIELD(db().JobInsertMany({.jobs = {negative}, .now = kT0}), "jobs[0].id");
  EXPECT_TRUE(ListIds({}).empty());
}

TEST_P(StoreConformanceTest, EmptyBatchesChangeNothing) {
  PQ_ASSERT_OK_AND_ASSIGN(auto inserted, db().JobInsertMany({.now = kT0}));
  EXPECT_TRUE(inserted.empty());
  PQ_ASSERT_OK_AND_ASSIGN(auto completed, db().JobCompleteMany({.now = kT0}));
  EXPECT_TRUE(completed.empty());
  PQ_ASSERT_OK_AND_ASSIGN(auto failed, db().JobFailMany({.now = kT0}));
  EXPECT_TRUE(failed.empty());
  PQ_ASSERT_OK_AND_ASSIGN(auto beat,
                          db().JobHeartbeatMany({.now = kT0, .lease = absl::Seconds(30)}));
  EXPECT_TRUE(beat.extended.empty());
  EXPECT_TRUE(beat.cancel_requested.empty());
  PQ_ASSERT_OK_AND_ASSIGN(auto queues, db().QueueList());
  EXPECT_TRUE(queues.empty());
}

TEST_P(StoreConformanceTest, FailRefusesTargetsOtherThanRetryableDeadCancelledScheduled) {
  InsertN(1);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 5));
  ASSERT_EQ(claimed.size(), 1u);
  for (JobState to : {JobState::kCompleted, JobState::kRunning, JobState::kAvailable}) {
    SCOPED_TRACE(JobStateName(to));
    PQ_EXPECT_FIELD(
        db().JobFailMany(
            {.items =
                 {{.id = claimed[0].id, .lease_token = 5, .to = JobState::kDead, .run_at = kT0},
                  {.id = claimed[0].id, .lease_token = 5, .to = to, .run_at = kT0}},
             .now = kT0}),
        "items[1].to");
  }
  PQ_ASSERT_OK_AND_ASSIGN(auto job, Get(claimed[0].id));
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_TRUE(job.errors.empty());
}

TEST_P(StoreConformanceTest, HeartbeatRefusesNonPositiveLease) {
  InsertN(1);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 5));
  ASSERT_EQ(claimed.size(), 1u);
  const JobId id = claimed[0].id;
  for (absl::Duration lease : {absl::ZeroDuration(), -absl::Seconds(5)}) {
    PQ_EXPECT_FIELD(db().JobHeartbeatMany({.items = {{.id = id, .lease_token = 5}},
                                           .now = kT0 + absl::Seconds(10),
                                           .lease = lease}),
                    "lease");
  }
  // An empty batch with a bad lease is refused too: the rule does not
  // depend on the items.
  PQ_EXPECT_FIELD(db().JobHeartbeatMany({.now = kT0}), "lease");
  PQ_ASSERT_OK_AND_ASSIGN(auto job, Get(id));
  ASSERT_TRUE(job.lease_expires_at.has_value());
  EXPECT_EQ(*job.lease_expires_at, kT0 + absl::Seconds(30));
}

TEST_P(StoreConformanceTest, RescueRefusesNonPositiveLimit) {
  InsertN(1);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 5, absl::Seconds(1)));
  ASSERT_EQ(claimed.size(), 1u);
  const absl::Time later = kT0 + absl::Minutes(1);
  PQ_EXPECT_FIELD(db().JobRescueExpired({.now = later, .limit = 0}), "limit");
  PQ_EXPECT_FIELD(db().JobRescueExpired({.now = later, .limit = -3}), "limit");
  PQ_ASSERT_OK_AND_ASSIGN(auto job, Get(claimed[0].id));
  EXPECT_EQ(job.state, JobState::kRunning);
  PQ_ASSERT_OK_AND_ASSIGN(store::JobRescueExpiredResult rescued,
                          db().JobRescueExpired({.now = later, .limit = 1}));
  EXPECT_EQ(rescued.size(), 1u);
}

TEST_P(StoreConformanceTest, DeleteFinishedBeforeRefusesLiveStatesAndBadLimit) {
  InsertN(1);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1, kT0, 5));
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Complete(claimed[0].id, 5));
  const absl::Time later = kT0 + absl::Hours(1);
  for (JobState live :
       {JobState::kRunning, JobState::kAvailable, JobState::kScheduled, JobState::kRetryable}) {
    PQ_EXPECT_FIELD(db().JobDeleteFinishedBefore({.state = live, .before = later}), "state");
  }
  PQ_EXPECT_FIELD(
      db().JobDeleteFinishedBefore({.state = JobState::kCompleted, .before = later, .limit = 0}),
      "limit");
  PQ_EXPECT_OK(Get(claimed[0].id));
  PQ_ASSERT_OK_AND_ASSIGN(
      int deleted, db().JobDeleteFinishedBefore({.state = JobState::kCompleted, .before = later}));
  EXPECT_EQ(deleted, 1);
}

TEST_P(StoreConformanceTest, ListLimitNamesItsField) {
  PQ_EXPECT_FIELD(db().JobList({.filter = {.limit = 0}}), "limit");
  PQ_EXPECT_FIELD(db().JobList({.filter = {.limit = 1001}}), "limit");
  PQ_EXPECT_OK(db().JobList({.filter = {.limit = 1000}}));
}

TEST_P(StoreConformanceTest, NonPositiveIdsNameNoJob) {
  for (JobId id : {JobId{0}, JobId{-5}}) {
    PQ_EXPECT_CODE(db().JobGet({.id = id}), absl::StatusCode::kNotFound);
    PQ_EXPECT_CODE(db().JobRequeue({.id = id, .now = kT0}), absl::StatusCode::kNotFound);
    PQ_EXPECT_CODE(db().JobCancel({.id = id, .now = kT0}), absl::StatusCode::kNotFound);
    PQ_EXPECT_CODE(db().JobDelete({.id = id}), absl::StatusCode::kNotFound);
  }
}

TEST_P(StoreConformanceTest, QueuePauseAndResumeNeedAName) {
  PQ_EXPECT_FIELD(db().QueuePause({.queue = "", .now = kT0}), "queue");
  PQ_EXPECT_FIELD(db().QueueResume({.queue = "", .now = kT0}), "queue");
  PQ_ASSERT_OK_AND_ASSIGN(auto queues, db().QueueList());
  EXPECT_TRUE(queues.empty());
}

TEST_P(StoreConformanceTest, QueueOldestDueNeedsQueueNames) {
  PQ_EXPECT_FIELD(db().QueueOldestDue({.queues = {"a", ""}, .now = kT0}), "queues[1]");
  PQ_ASSERT_OK_AND_ASSIGN(auto none, db().QueueOldestDue({.queues = {}, .now = kT0}));
  EXPECT_TRUE(none.empty());
}

TEST_P(StoreConformanceTest, LeadershipNeedsANameALeaderAndATtl) {
  const absl::Duration ttl = absl::Seconds(10);
  PQ_EXPECT_FIELD(db().LeaderAttemptElect({.name = "", .leader_id = "a", .now = kT0, .ttl = ttl}),
                  "name");
  PQ_EXPECT_FIELD(db().LeaderAttemptElect({.name = "m", .leader_id = "", .now = kT0, .ttl = ttl}),
                  "leader_id");
  PQ_EXPECT_FIELD(db().LeaderAttemptElect(
                      {.name = "m", .leader_id = "a", .now = kT0, .ttl = absl::ZeroDuration()}),
                  "ttl");
  PQ_EXPECT_FIELD(db().LeaderResign({.name = "", .leader_id = "a"}), "name");
  PQ_EXPECT_FIELD(db().LeaderResign({.name = "m", .leader_id = ""}), "leader_id");
  // None of the refused calls took the leadership.
  PQ_ASSERT_OK_AND_ASSIGN(
      bool b, db().LeaderAttemptElect({.name = "m", .leader_id = "b", .now = kT0, .ttl = ttl}));
  EXPECT_TRUE(b);
}

TEST_P(StoreConformanceTest, WorkerCallsNeedAWorkerIdAndListATtl) {
  PQ_EXPECT_FIELD(db().WorkerRegister({.worker = {.id = ""}, .now = kT0}), "worker.id");
  PQ_EXPECT_FIELD(db().WorkerHeartbeat({.worker_id = "", .now = kT0}), "worker_id");
  PQ_EXPECT_FIELD(db().WorkerDeregister({.worker_id = ""}), "worker_id");
  PQ_EXPECT_FIELD(db().WorkerList({.now = kT0, .ttl = absl::ZeroDuration()}), "ttl");
  PQ_ASSERT_OK_AND_ASSIGN(auto workers, db().WorkerList({.now = kT0, .ttl = absl::Seconds(30)}));
  EXPECT_TRUE(workers.empty());
}

TEST_P(StoreConformanceTest, CronFireOnceRefusesBadInputWithoutRecordingTheFire) {
  const absl::Time fire = kT0;
  PQ_EXPECT_FIELD(
      db().CronFireOnce({.schedule = "", .fire_time = fire, .job = Job("cron"), .now = kT0}),
      "schedule");
  NewJob bad = Job("cron");
  bad.max_attempts = 0;
  PQ_EXPECT_FIELD(
      db().CronFireOnce({.schedule = "report", .fire_time = fire, .job = bad, .now = kT0}),
      "job.max_attempts");
  // The refused fire was not recorded: a valid one still inserts.
  PQ_ASSERT_OK_AND_ASSIGN(
      bool inserted,
      db().CronFireOnce({.schedule = "report", .fire_time = fire, .job = Job("cron"), .now = kT0}));
  EXPECT_TRUE(inserted);
  EXPECT_EQ(ListIds({}).size(), 1u);
}

TEST_P(StoreConformanceTest, QueueListHasEveryStateAndOnlyPausedOrNonEmptyQueues) {
  InsertN(1, "busy");
  PQ_ASSERT_OK(db().QueuePause({.queue = "idle", .now = kT0}));
  PQ_ASSERT_OK(db().QueuePause({.queue = "resumed", .now = kT0}));
  PQ_ASSERT_OK(db().QueueResume({.queue = "resumed", .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(auto queues, db().QueueList());
  ASSERT_EQ(queues.size(), 2u);
  EXPECT_EQ(queues[0].name, "busy");
  EXPECT_FALSE(queues[0].paused);
  EXPECT_EQ(queues[1].name, "idle");
  EXPECT_TRUE(queues[1].paused);
  EXPECT_EQ(queues[1].counts, store::ZeroCounts());
  std::map<JobState, int64_t> busy = store::ZeroCounts();
  busy[JobState::kAvailable] = 1;
  EXPECT_EQ(queues[0].counts, busy);
}

TEST_P(StoreConformanceTest, SubscribeRefusesAnEmptyCallback) {
  PQ_EXPECT_CODE(db().Subscribe(nullptr), absl::StatusCode::kInvalidArgument);
  if (!db().SupportsNotify()) {
    PQ_EXPECT_CODE(db().Subscribe([](const std::string&) {}), absl::StatusCode::kUnimplemented);
  }
}

}  // namespace
}  // namespace popqueue::conformance
