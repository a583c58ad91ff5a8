// Conformance: claiming — order, delays, limits, queue sets, pauses — and
// the exactly-once stress test.
#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;

std::vector<JobId> Ids(const std::vector<popqueue::Job>& jobs) {
  std::vector<JobId> ids;
  for (const popqueue::Job& j : jobs) ids.push_back(j.id);
  return ids;
}

TEST_P(StoreConformanceTest, ClaimOrderIsPriorityRunAtId) {
  // Inserted out of order on purpose.
  NewJob low = Job();  // priority 1: last despite the oldest run_at
  low.priority = 1;
  low.run_at = kT0 - absl::Hours(1);
  NewJob later = Job();  // priority 0, newest run_at
  later.run_at = kT0 - absl::Seconds(5);
  NewJob second = Job();  // priority 0, oldest run_at, higher id
  second.run_at = kT0 - absl::Seconds(10);
  NewJob first = Job();
  first.id = second.id - 100;  // same priority and run_at, lower id
  first.run_at = kT0 - absl::Seconds(10);
  NewJob urgent = Job();
  urgent.priority = -5;
  urgent.run_at = kT0;
  PQ_ASSERT_OK(db().JobInsertMany({.jobs = {low, later, second, first, urgent}, .now = kT0}));

  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10));
  EXPECT_EQ(Ids(claimed), (std::vector<JobId>{urgent.id, first.id, second.id, later.id, low.id}));
}

TEST_P(StoreConformanceTest, ClaimOrderSpansQueuesAndPromotedJobs) {
  NewJob a = Job("a");
  a.run_at = kT0 - absl::Seconds(30);
  NewJob b = Job("b");
  b.run_at = kT0 - absl::Seconds(20);
  NewJob delayed = Job("b");  // scheduled at insert, due by claim time
  delayed.run_at = kT0 + absl::Seconds(5);
  NewJob c = Job("a");
  c.run_at = kT0 + absl::Seconds(8);
  PQ_ASSERT_OK(db().JobInsertMany({.jobs = {c, delayed, b, a}, .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"a", "b"}, 3, kT0 + absl::Seconds(10)));
  EXPECT_EQ(Ids(claimed), (std::vector<JobId>{a.id, b.id, delayed.id}));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"b", "a"}, 3, kT0 + absl::Seconds(10)));
  EXPECT_EQ(Ids(claimed), (std::vector<JobId>{c.id}));
}

// Six queues (on a Redis Cluster, six slots: the claim merges them), one of
// them paused: claims of 5 take the jobs of the other five queues exactly in
// the global (priority, run_at, id) order, each batch in that order.
TEST_P(StoreConformanceTest, ClaimOrderAcrossManyQueues) {
  const std::vector<std::string> queues = {"m0", "m1", "m2", "m3", "m4", "m5"};
  struct Key {
    int priority;
    absl::Time run_at;
    JobId id;
    bool operator<(const Key& o) const {
      return std::tie(priority, run_at, id) < std::tie(o.priority, o.run_at, o.id);
    }
  };
  std::vector<Key> expected;
  store::JobInsertManyParams params{.now = kT0};
  for (int i = 0; i < 30; ++i) {
    NewJob job = Job(queues[(i * 7) % 6]);
    job.priority = (i * 5) % 3 - 1;
    job.run_at = kT0 - absl::Seconds((i * 11) % 4);
    if (i % 4 == 0) job.id = job.id - 10'000;  // ids out of insertion order
    params.jobs.push_back(job);
    if (job.queue != "m3") expected.push_back({job.priority, job.run_at, job.id});
  }
  PQ_ASSERT_OK(db().JobInsertMany(params));
  PQ_ASSERT_OK(db().QueuePause({.queue = "m3", .now = kT0}));
  std::sort(expected.begin(), expected.end());

  std::vector<JobId> claimed_ids;
  for (int round = 0; round < 10; ++round) {
    PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"m5", "m3", "m1", "m0", "m4", "m2"}, 5));
    if (claimed.empty()) break;
    EXPECT_LE(claimed.size(), 5u);
    for (const popqueue::Job& j : claimed) claimed_ids.push_back(j.id);
  }
  std::vector<JobId> expected_ids;
  for (const Key& k : expected) expected_ids.push_back(k.id);
  EXPECT_EQ(claimed_ids, expected_ids);
}

TEST_P(StoreConformanceTest, DelayedJobsAreNeverClaimedEarly) {
  NewJob job = Job();
  job.run_at = kT0 + absl::Minutes(1);
  PQ_ASSERT_OK(Insert(job));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0 + absl::Seconds(59)));
  EXPECT_TRUE(claimed.empty());
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kScheduled);

  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, job.run_at));
  ASSERT_EQ(Ids(claimed), std::vector<JobId>{job.id});
  EXPECT_EQ(claimed[0].state, JobState::kRunning);
  EXPECT_EQ(claimed[0].attempt, 1);
}

TEST_P(StoreConformanceTest, ClaimRespectsLimitAndQueueSet) {
  InsertN(5, "a");
  InsertN(5, "b");
  std::vector<JobId> c_ids = InsertN(5, "c");

  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"a", "b"}, 3));
  EXPECT_EQ(claimed.size(), 3u);
  PQ_ASSERT_OK_AND_ASSIGN(auto rest, Claim({"a", "b"}, 100));
  EXPECT_EQ(rest.size(), 7u);
  std::set<JobId> seen;
  for (const auto* batch : {&claimed, &rest}) {
    for (const popqueue::Job& j : *batch) {
      EXPECT_TRUE(j.queue == "a" || j.queue == "b") << j.queue;
      EXPECT_TRUE(seen.insert(j.id).second) << "claimed twice: " << j.id;
    }
  }
  PQ_ASSERT_OK_AND_ASSIGN(auto none, Claim({"a", "b"}, 100));
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(ListIds({.states = {JobState::kAvailable}, .queue = "c"}).size(), 5u);
  PQ_ASSERT_OK_AND_ASSIGN(auto unknown, Claim({"nope"}, 100));
  EXPECT_TRUE(unknown.empty());
}

TEST_P(StoreConformanceTest, PausedQueueIsNotClaimedUntilResumed) {
  std::vector<JobId> paused_ids = InsertN(2, "paused");
  std::vector<JobId> open_ids = InsertN(2, "open");
  PQ_ASSERT_OK(db().QueuePause({.queue = "paused", .now = kT0}));
  PQ_ASSERT_OK(db().QueuePause({.queue = "paused", .now = kT0}));  // idempotent

  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"paused", "open"}, 10));
  EXPECT_EQ(Ids(claimed), open_ids);
  // Due delayed jobs of a paused queue stay unclaimed too.
  NewJob delayed = Job("paused");
  delayed.run_at = kT0 + absl::Seconds(1);
  PQ_ASSERT_OK(Insert(delayed));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"paused"}, 10, kT0 + absl::Minutes(1)));
  EXPECT_TRUE(claimed.empty());

  PQ_ASSERT_OK(db().QueueResume({.queue = "paused", .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"paused"}, 10, kT0 + absl::Minutes(1)));
  paused_ids.push_back(delayed.id);
  EXPECT_EQ(Ids(claimed), paused_ids);
}

TEST_P(StoreConformanceTest, ClaimSetsLeaseFields) {
  std::vector<JobId> ids = InsertN(2);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 2, kT0, 999, absl::Seconds(45), "w-7"));
  ASSERT_EQ(claimed.size(), 2u);
  for (const popqueue::Job& j : claimed) {
    EXPECT_EQ(j.state, JobState::kRunning);
    EXPECT_EQ(j.worker_id, "w-7");
    EXPECT_EQ(j.lease_token, 999);
    EXPECT_EQ(j.picked_at, kT0);
    EXPECT_EQ(j.lease_expires_at, kT0 + absl::Seconds(45));
    EXPECT_EQ(j.attempt, 1);
  }
}

// 16 threads claim in batches from the backend's stress_jobs (5000 by
// default): every job is claimed exactly once and completed exactly once.
TEST_P(StoreConformanceTest, StressEachJobClaimedAndCompletedExactlyOnce) {
  const int kJobs = GetParam().stress_jobs;
  constexpr int kThreads = 16;
  std::vector<JobId> all;
  for (int done = 0; done < kJobs; done += 1000) {
    store::JobInsertManyParams params{.now = kT0};
    for (int i = done; i < std::min(kJobs, done + 1000); ++i) {
      params.jobs.push_back(Job(i % 2 == 0 ? "even" : "odd"));
    }
    PQ_ASSERT_OK_AND_ASSIGN(auto results, db().JobInsertMany(params));
    for (const EnqueueResult& r : results) all.push_back(r.id);
  }
  const JobId base = *std::min_element(all.begin(), all.end());
  std::vector<std::atomic<int>> claims(kJobs), completions(kJobs);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int64_t token = (t + 1) * 1'000'000;
      while (true) {
        ++token;
        auto claimed = Claim({"even", "odd"}, 1 + t % 7 * 10, kT0, token, absl::Minutes(10),
                             "w" + std::to_string(t));
        if (!claimed.ok()) {
          ++errors;
          ADD_FAILURE() << claimed.status();
          return;
        }
        if (claimed->empty()) return;
        store::JobCompleteManyParams done{.now = kT0};
        for (const popqueue::Job& j : *claimed) {
          ++claims[j.id - base];
          done.items.push_back({.id = j.id, .lease_token = token});
        }
        auto completed = db().JobCompleteMany(done);
        if (!completed.ok()) {
          ++errors;
          ADD_FAILURE() << completed.status();
          return;
        }
        for (JobId id : *completed) ++completions[id - base];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(errors.load(), 0);
  int bad = 0;
  for (JobId id : all) {
    if (claims[id - base] != 1 || completions[id - base] != 1) {
      if (++bad <= 5) {
        ADD_FAILURE() << "job " << id << " claimed " << claims[id - base] << "x, completed "
                      << completions[id - base] << "x";
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(ListIds({.states = {JobState::kCompleted}, .limit = 1000}).size(), 1000u);
  PQ_ASSERT_OK_AND_ASSIGN(auto counts, db().JobCountByState());
  int64_t completed = 0;
  for (const QueueCounts& q : counts) {
    for (const auto& [state, n] : q.by_state) {
      if (state == JobState::kCompleted) {
        completed += n;
      } else {
        EXPECT_EQ(n, 0) << q.queue << " " << JobStateName(state);
      }
    }
  }
  EXPECT_EQ(completed, kJobs);
}

}  // namespace
}  // namespace popqueue::conformance
