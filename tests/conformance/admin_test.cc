// Conformance: listing with filters and keyset pagination, counts, the queue
// list, and cleanup of finished jobs.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;

int64_t CountOf(const std::map<JobState, int64_t>& counts, JobState s) {
  auto it = counts.find(s);
  return it == counts.end() ? 0 : it->second;
}

// 30 jobs: queue q1/q2 alternating, name n0/n1/n2 cycling, identifiers
// "ident-<i>"; the first 6 are completed, the next 4 running.
class Fixture30 {
 public:
  struct Row {
    JobId id;
    std::string queue, name, identifier;
    JobState state;
  };
  std::vector<Row> rows;

  std::vector<JobId> Expected(const std::function<bool(const Row&)>& keep) const {
    std::vector<JobId> ids;
    for (const Row& r : rows) {
      if (keep(r)) ids.push_back(r.id);
    }
    std::sort(ids.rbegin(), ids.rend());
    return ids;
  }
};

TEST_P(StoreConformanceTest, ListFiltersAndOrder) {
  Fixture30 f;
  store::JobInsertManyParams params{.now = kT0};
  for (int i = 0; i < 30; ++i) {
    NewJob job = Job(i % 2 == 0 ? "q1" : "q2", "n" + std::to_string(i % 3));
    job.identifier = "ident-" + std::to_string(i);
    params.jobs.push_back(job);
    f.rows.push_back({job.id, job.queue, job.name, job.identifier, JobState::kAvailable});
  }
  PQ_ASSERT_OK(db().JobInsertMany(params));
  // Claim order is id order here (same priority and run_at).
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"q1", "q2"}, 10, kT0, 9));
  ASSERT_EQ(claimed.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(claimed[i].id, f.rows[i].id);
    f.rows[i].state = JobState::kRunning;
    if (i < 6) {
      ASSERT_TRUE(Complete(f.rows[i].id, 9));
      f.rows[i].state = JobState::kCompleted;
    }
  }

  auto all = [](const Fixture30::Row&) { return true; };
  EXPECT_EQ(ListIds({.limit = 1000}), f.Expected(all));
  EXPECT_EQ(ListIds({.states = {JobState::kAvailable}, .limit = 1000}),
            f.Expected([](auto& r) { return r.state == JobState::kAvailable; }));
  EXPECT_EQ(ListIds({.states = {JobState::kRunning, JobState::kCompleted}, .limit = 1000}),
            f.Expected([](auto& r) { return r.state != JobState::kAvailable; }));
  EXPECT_EQ(ListIds({.states = {JobState::kDead}, .limit = 1000}), std::vector<JobId>{});
  EXPECT_EQ(ListIds({.queue = "q1", .limit = 1000}),
            f.Expected([](auto& r) { return r.queue == "q1"; }));
  EXPECT_EQ(ListIds({.name = "n2", .limit = 1000}),
            f.Expected([](auto& r) { return r.name == "n2"; }));
  EXPECT_EQ(ListIds({.identifier = "ident-7", .limit = 1000}),
            f.Expected([](auto& r) { return r.identifier == "ident-7"; }));
  EXPECT_EQ(ListIds({.states = {JobState::kCompleted}, .queue = "q2", .name = "n1", .limit = 1000}),
            f.Expected([](auto& r) {
              return r.state == JobState::kCompleted && r.queue == "q2" && r.name == "n1";
            }));
  EXPECT_EQ(ListIds({.queue = "q1", .name = "n0", .identifier = "ident-0", .limit = 1000}),
            f.Expected([](auto& r) { return r.identifier == "ident-0"; }));
  EXPECT_EQ(ListIds({.queue = "q2", .identifier = "ident-0", .limit = 1000}), std::vector<JobId>{});

  PQ_ASSERT_OK_AND_ASSIGN(JobPage page, db().JobList({.filter = {.limit = 1000}}));
  ASSERT_EQ(page.jobs.size(), 30u);
  EXPECT_FALSE(page.next_before_id.has_value());
  EXPECT_EQ(page.jobs[0].id, f.rows.back().id);
  EXPECT_EQ(page.jobs[0].data, "");
}

TEST_P(StoreConformanceTest, ListKeysetPaginationHasNoGapsOrDuplicates) {
  std::vector<JobId> ids = InsertN(23, "a");
  InsertN(5, "b");
  std::vector<JobId> expected(ids.rbegin(), ids.rend());
  for (int limit : {1, 7, 23, 50}) {
    std::vector<JobId> seen;
    JobFilter filter{.queue = "a", .limit = limit};
    int pages = 0;
    while (true) {
      PQ_ASSERT_OK_AND_ASSIGN(JobPage page, db().JobList({.filter = filter}));
      ASSERT_LE(page.jobs.size(), static_cast<size_t>(limit));
      for (const popqueue::Job& j : page.jobs) seen.push_back(j.id);
      ++pages;
      ASSERT_LE(pages, 30);
      if (!page.next_before_id) break;
      ASSERT_FALSE(page.jobs.empty());
      EXPECT_EQ(*page.next_before_id, page.jobs.back().id);
      filter.before_id = page.next_before_id;
    }
    EXPECT_EQ(seen, expected) << "limit " << limit;
  }
  // A page that ends exactly at the last job may still say "more may follow";
  // following it yields an empty page without a cursor.
  PQ_ASSERT_OK_AND_ASSIGN(JobPage last,
                          db().JobList({.filter = {.queue = "a", .before_id = ids.front()}}));
  EXPECT_TRUE(last.jobs.empty());
  EXPECT_FALSE(last.next_before_id.has_value());
}

// Running jobs listed by state alone: newest first over every queue, with
// the keyset cursor (the Redis store lists them from Q:running, ordered by
// lease expiry, not from an id index), and filtered by queue and name.
TEST_P(StoreConformanceTest, ListRunningJobsByStatePaginated) {
  ASSERT_EQ(InsertN(9, "a").size(), 9u);
  ASSERT_EQ(InsertN(6, "b").size(), 6u);
  // Leases in an order unrelated to ids: b's (newer ids) expire first.
  PQ_ASSERT_OK_AND_ASSIGN(auto from_b, Claim({"b"}, 4, kT0, 3, absl::Seconds(10)));
  PQ_ASSERT_OK_AND_ASSIGN(auto from_a, Claim({"a"}, 5, kT0, 9, absl::Seconds(60)));
  ASSERT_EQ(from_b.size(), 4u);
  ASSERT_EQ(from_a.size(), 5u);
  ASSERT_TRUE(Complete(from_a[0].id, 9));
  std::vector<JobId> running;
  for (size_t i = 1; i < from_a.size(); ++i) running.push_back(from_a[i].id);
  for (const popqueue::Job& j : from_b) running.push_back(j.id);
  std::sort(running.rbegin(), running.rend());
  for (int limit : {1, 3, 8, 100}) {
    std::vector<JobId> seen;
    JobFilter filter{.states = {JobState::kRunning}, .limit = limit};
    for (int pages = 0;; ++pages) {
      ASSERT_LE(pages, 20);
      PQ_ASSERT_OK_AND_ASSIGN(JobPage page, db().JobList({.filter = filter}));
      ASSERT_LE(page.jobs.size(), static_cast<size_t>(limit));
      for (const popqueue::Job& j : page.jobs) {
        EXPECT_EQ(j.state, JobState::kRunning);
        seen.push_back(j.id);
      }
      if (!page.next_before_id) break;
      filter.before_id = page.next_before_id;
    }
    EXPECT_EQ(seen, running) << "limit " << limit;
  }
  std::vector<JobId> running_b;
  for (const popqueue::Job& j : from_b) running_b.push_back(j.id);
  std::sort(running_b.rbegin(), running_b.rend());
  EXPECT_EQ(ListIds({.states = {JobState::kRunning}, .queue = "b", .limit = 100}), running_b);
  EXPECT_EQ(ListIds({.states = {JobState::kRunning}, .name = "nope", .limit = 100}),
            std::vector<JobId>{});
}

TEST_P(StoreConformanceTest, ListRejectsBadLimits) {
  PQ_EXPECT_CODE(db().JobList({.filter = {.limit = 0}}), absl::StatusCode::kInvalidArgument);
  PQ_EXPECT_CODE(db().JobList({.filter = {.limit = 1001}}), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, CountByStatePerQueue) {
  InsertN(4, "a");
  InsertN(2, "b");
  NewJob later = Job("b");
  later.run_at = kT0 + absl::Hours(1);
  PQ_ASSERT_OK(Insert(later));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"a"}, 3, kT0, 1));
  ASSERT_EQ(claimed.size(), 3u);
  ASSERT_TRUE(Complete(claimed[0].id, 1));
  ASSERT_TRUE(Fail(claimed[1].id, 1, JobState::kDead, kT0, "x"));

  PQ_ASSERT_OK_AND_ASSIGN(auto counts, db().JobCountByState());
  std::map<std::string, std::map<JobState, int64_t>> by_queue;
  for (const QueueCounts& q : counts) by_queue[q.queue] = q.by_state;
  ASSERT_EQ(by_queue.size(), 2u);
  EXPECT_EQ(CountOf(by_queue["a"], JobState::kAvailable), 1);
  EXPECT_EQ(CountOf(by_queue["a"], JobState::kRunning), 1);
  EXPECT_EQ(CountOf(by_queue["a"], JobState::kCompleted), 1);
  EXPECT_EQ(CountOf(by_queue["a"], JobState::kDead), 1);
  EXPECT_EQ(CountOf(by_queue["a"], JobState::kScheduled), 0);
  EXPECT_EQ(CountOf(by_queue["b"], JobState::kAvailable), 2);
  EXPECT_EQ(CountOf(by_queue["b"], JobState::kScheduled), 1);
  EXPECT_EQ(CountOf(by_queue["b"], JobState::kRunning), 0);
}

TEST_P(StoreConformanceTest, QueueListHasCountsAndPausedFlag) {
  InsertN(2, "zeta");
  InsertN(1, "alpha");
  PQ_ASSERT_OK(db().QueuePause({.queue = "alpha", .now = kT0}));
  PQ_ASSERT_OK(db().QueuePause({.queue = "empty", .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(auto queues, db().QueueList());
  std::vector<std::string> names;
  for (const QueueInfo& q : queues) names.push_back(q.name);
  ASSERT_EQ(names, (std::vector<std::string>{"alpha", "empty", "zeta"}));
  EXPECT_TRUE(queues[0].paused);
  EXPECT_EQ(CountOf(queues[0].counts, JobState::kAvailable), 1);
  EXPECT_TRUE(queues[1].paused);
  EXPECT_EQ(CountOf(queues[1].counts, JobState::kAvailable), 0);
  EXPECT_FALSE(queues[2].paused);
  EXPECT_EQ(CountOf(queues[2].counts, JobState::kAvailable), 2);

  PQ_ASSERT_OK(db().QueueResume({.queue = "alpha", .now = kT0}));
  PQ_ASSERT_OK(db().QueueResume({.queue = "never-paused", .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(queues, db().QueueList());
  for (const QueueInfo& q : queues) {
    if (q.name == "alpha") {
      EXPECT_FALSE(q.paused);
    }
  }
}

// The queue-lag figure: per queue, the run_at of its longest-due job over
// every priority level (not the first in claim order), due waiting jobs
// included, future ones not.
TEST_P(StoreConformanceTest, QueueOldestDueIsTheLongestDueJobPerQueue) {
  auto add = [&](const std::string& queue, int priority, absl::Duration from_t0) -> JobId {
    NewJob job = Job(queue);
    job.priority = priority;
    job.run_at = kT0 + from_t0;
    EXPECT_TRUE(Insert(job, kT0).ok());
    return job.id;
  };
  add("a", 1, absl::Seconds(-2));
  add("a", 5, absl::Seconds(-10));  // the oldest, behind in claim order
  add("a", -3, absl::Seconds(-1));
  add("a", 1, absl::Seconds(100));  // scheduled, not due before kT0 + 100s
  add("b", 0, absl::Seconds(20));   // scheduled only
  add("b", 7, absl::Seconds(40));
  const JobId r = add("c", 0, absl::ZeroDuration());
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"c"}, 1, kT0, 5));
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Fail(r, 5, JobState::kRetryable, kT0 + absl::Seconds(5), "x", kT0));
  PQ_ASSERT_OK(db().QueuePause({.queue = "b", .now = kT0}));

  using Answer = store::QueueOldestDueResult;
  const std::vector<std::string> queues = {"a", "b", "c", "nobody", "a"};
  PQ_ASSERT_OK_AND_ASSIGN(Answer at_t0, db().QueueOldestDue({.queues = queues, .now = kT0}));
  EXPECT_EQ(at_t0, (Answer{kT0 - absl::Seconds(10), std::nullopt, std::nullopt, std::nullopt,
                           kT0 - absl::Seconds(10)}));
  PQ_ASSERT_OK_AND_ASSIGN(Answer later,
                          db().QueueOldestDue({.queues = queues, .now = kT0 + absl::Seconds(30)}));
  EXPECT_EQ(later, (Answer{kT0 - absl::Seconds(10), kT0 + absl::Seconds(20), kT0 + absl::Seconds(5),
                           std::nullopt, kT0 - absl::Seconds(10)}));

  // Once every available job of "a" is claimed, only its scheduled one is
  // left, due at kT0 + 100s.
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"a"}, 10, kT0, 6));
  ASSERT_EQ(claimed.size(), 3u);
  PQ_ASSERT_OK_AND_ASSIGN(at_t0, db().QueueOldestDue({.queues = {"a"}, .now = kT0}));
  EXPECT_EQ(at_t0, (Answer{std::nullopt}));
  PQ_ASSERT_OK_AND_ASSIGN(later,
                          db().QueueOldestDue({.queues = {"a"}, .now = kT0 + absl::Seconds(200)}));
  EXPECT_EQ(later, (Answer{kT0 + absl::Seconds(100)}));
}

TEST_P(StoreConformanceTest, DeleteFinishedBefore) {
  std::vector<JobId> ids = InsertN(6);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 5, kT0, 1));
  ASSERT_EQ(claimed.size(), 5u);
  ASSERT_TRUE(Complete(ids[0], 1, kT0));
  ASSERT_TRUE(Complete(ids[1], 1, kT0 + absl::Seconds(10)));
  ASSERT_TRUE(Complete(ids[2], 1, kT0 + absl::Seconds(20)));
  ASSERT_TRUE(Fail(ids[3], 1, JobState::kDead, kT0, "x", kT0));
  // ids[4] running, ids[5] available.

  PQ_ASSERT_OK_AND_ASSIGN(
      int n, db().JobDeleteFinishedBefore(
                 {.state = JobState::kCompleted, .before = kT0 + absl::Seconds(15), .limit = 1}));
  EXPECT_EQ(n, 1);
  PQ_ASSERT_OK_AND_ASSIGN(n, db().JobDeleteFinishedBefore({.state = JobState::kCompleted,
                                                           .before = kT0 + absl::Seconds(15)}));
  EXPECT_EQ(n, 1);
  PQ_EXPECT_CODE(Get(ids[0]), absl::StatusCode::kNotFound);
  PQ_EXPECT_CODE(Get(ids[1]), absl::StatusCode::kNotFound);
  PQ_EXPECT_OK(Get(ids[2]));
  PQ_EXPECT_OK(Get(ids[3]));
  PQ_EXPECT_OK(Get(ids[4]));
  PQ_EXPECT_OK(Get(ids[5]));
  PQ_ASSERT_OK_AND_ASSIGN(n, db().JobDeleteFinishedBefore(
                                 {.state = JobState::kDead, .before = kT0 + absl::Seconds(1)}));
  EXPECT_EQ(n, 1);
  PQ_EXPECT_CODE(Get(ids[3]), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace popqueue::conformance
