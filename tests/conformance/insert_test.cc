// Conformance: inserting jobs, identifier uniqueness, id collisions,
// verbatim round trips and notifications.
#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/job_json.h"
#include "common/mutex.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;

TEST_P(StoreConformanceTest, InsertAndReadBackEveryField) {
  NewJob job = Job("mail", "send_email");
  job.identifier = "welcome-42";
  job.data = R"({"to":"a@example.com"})";
  job.priority = 5;
  job.max_attempts = 4;
  job.run_at = kT0 - absl::Seconds(1);
  job.timeout = absl::Seconds(30);
  job.backoff_base = absl::Milliseconds(1500);
  PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(job));
  EXPECT_EQ(r.id, job.id);
  EXPECT_TRUE(r.inserted);
  EXPECT_EQ(r.state, JobState::kAvailable);

  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.id, job.id);
  EXPECT_EQ(got.queue, "mail");
  EXPECT_EQ(got.name, "send_email");
  EXPECT_EQ(got.identifier, "welcome-42");
  EXPECT_EQ(got.data, job.data);
  EXPECT_EQ(got.priority, 5);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
  EXPECT_EQ(got.max_attempts, 4);
  EXPECT_EQ(got.run_at, job.run_at);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_FALSE(got.picked_at.has_value());
  EXPECT_FALSE(got.finished_at.has_value());
  EXPECT_EQ(got.worker_id, "");
  EXPECT_FALSE(got.lease_expires_at.has_value());
  EXPECT_TRUE(got.errors.empty());
  EXPECT_FALSE(got.result.has_value());
  EXPECT_EQ(got.progress, 0);
  EXPECT_EQ(got.timeout, absl::Seconds(30));
  EXPECT_EQ(got.backoff_base, absl::Milliseconds(1500));
  EXPECT_FALSE(got.cancel_requested);

  // The fields a claim and a completion set.
  const absl::Time t1 = kT0 + absl::Microseconds(1234567);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"mail"}, 1, t1, 4242, absl::Seconds(30), "w-9"));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].state, JobState::kRunning);
  EXPECT_EQ(claimed[0].attempt, 1);
  EXPECT_EQ(claimed[0].data, job.data);
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.attempt, 1);
  EXPECT_EQ(got.picked_at, t1);
  EXPECT_EQ(got.worker_id, "w-9");
  EXPECT_EQ(got.lease_token, 4242);
  EXPECT_EQ(got.lease_expires_at, t1 + absl::Seconds(30));

  const absl::Time t2 = t1 + absl::Seconds(2);
  ASSERT_TRUE(Complete(job.id, 4242, t2, "sent"));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kCompleted);
  EXPECT_EQ(got.finished_at, t2);
  EXPECT_EQ(got.result, "sent");
  EXPECT_EQ(got.attempt, 1);
}

// Job::metadata is the store's opaque text (store.h NewJob::metadata), read
// back decoded by every path that returns a job: get, claim, list, and after
// the job's outcome; a job without any has none.
TEST_P(StoreConformanceTest, MetadataTravelsWithTheJob) {
  const JobMetadata metadata = {
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"tenant", "acme"},
      {"odd.key:with/chars-_", "v\u00e4lue \"quoted\" {braces} \\ and\nnewline"},
  };
  NewJob with = Job("meta");
  with.metadata = EncodeMetadata(metadata);
  NewJob without = Job("meta");
  without.run_at = kT0 + absl::Seconds(1);  // claimed second
  PQ_ASSERT_OK_AND_ASSIGN(auto results, db().JobInsertMany({.jobs = {with, without}, .now = kT0}));
  ASSERT_EQ(results.size(), 2u);

  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(with.id));
  EXPECT_EQ(got.metadata, metadata);
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(without.id));
  EXPECT_TRUE(got.metadata.empty());
  PQ_ASSERT_OK_AND_ASSIGN(JobPage page, db().JobList({.filter = {.queue = "meta"}}));
  ASSERT_EQ(page.jobs.size(), 2u);
  for (const popqueue::Job& j : page.jobs) {
    EXPECT_EQ(j.metadata, j.id == with.id ? metadata : JobMetadata{}) << j.id;
  }
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"meta"}, 2, kT0 + absl::Seconds(2)));
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].id, with.id);
  EXPECT_EQ(claimed[0].metadata, metadata);
  EXPECT_TRUE(claimed[1].metadata.empty());
  ASSERT_TRUE(Fail(with.id, 77, JobState::kRetryable, kT0 + absl::Seconds(3), "boom",
                   kT0 + absl::Seconds(2)));
  PQ_ASSERT_OK_AND_ASSIGN(got, Get(with.id));
  EXPECT_EQ(got.state, JobState::kRetryable);
  EXPECT_EQ(got.metadata, metadata);
}

TEST_P(StoreConformanceTest, FutureRunAtIsScheduled) {
  NewJob job = Job();
  job.run_at = kT0 + absl::Minutes(5);
  PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(job));
  EXPECT_EQ(r.state, JobState::kScheduled);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
  EXPECT_EQ(got.state, JobState::kScheduled);
  EXPECT_EQ(got.run_at, job.run_at);
}

TEST_P(StoreConformanceTest, GetUnknownIdIsNotFound) {
  PQ_EXPECT_CODE(Get(424242), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, DuplicateIdentifierReturnsExistingJob) {
  NewJob first = Job();
  first.identifier = "unique-1";
  PQ_ASSERT_OK(Insert(first));

  NewJob second = Job();
  second.identifier = "unique-1";
  PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(second));
  EXPECT_FALSE(r.inserted);
  EXPECT_EQ(r.id, first.id);
  EXPECT_EQ(r.state, JobState::kAvailable);
  PQ_EXPECT_CODE(Get(second.id), absl::StatusCode::kNotFound);

  // Still unique while running.
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1));
  ASSERT_EQ(claimed.size(), 1u);
  NewJob third = Job();
  third.identifier = "unique-1";
  PQ_ASSERT_OK_AND_ASSIGN(r, Insert(third));
  EXPECT_FALSE(r.inserted);
  EXPECT_EQ(r.id, first.id);
  EXPECT_EQ(r.state, JobState::kRunning);

  // Free again once the job is final.
  ASSERT_TRUE(Complete(first.id, 77));
  NewJob fourth = Job();
  fourth.identifier = "unique-1";
  PQ_ASSERT_OK_AND_ASSIGN(r, Insert(fourth));
  EXPECT_TRUE(r.inserted);
  EXPECT_EQ(r.id, fourth.id);

  JobFilter by_identifier{.identifier = "unique-1"};
  EXPECT_EQ(ListIds(by_identifier), (std::vector<JobId>{fourth.id, first.id}));
}

TEST_P(StoreConformanceTest, DuplicateIdentifierHeldByScheduledAndRetryable) {
  NewJob scheduled = Job();
  scheduled.identifier = "later";
  scheduled.run_at = kT0 + absl::Hours(1);
  PQ_ASSERT_OK(Insert(scheduled));
  NewJob dup = Job();
  dup.identifier = "later";
  PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(dup));
  EXPECT_FALSE(r.inserted);
  EXPECT_EQ(r.id, scheduled.id);
  EXPECT_EQ(r.state, JobState::kScheduled);

  NewJob retried = Job();
  retried.identifier = "again";
  PQ_ASSERT_OK(Insert(retried));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1));
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Fail(retried.id, 77, JobState::kRetryable, kT0 + absl::Minutes(1), "boom"));
  NewJob dup2 = Job();
  dup2.identifier = "again";
  PQ_ASSERT_OK_AND_ASSIGN(r, Insert(dup2));
  EXPECT_FALSE(r.inserted);
  EXPECT_EQ(r.id, retried.id);
  EXPECT_EQ(r.state, JobState::kRetryable);
}

TEST_P(StoreConformanceTest, SameIdentifierTwiceInOneBatch) {
  NewJob a = Job(), b = Job(), c = Job();
  a.identifier = "batch-key";
  b.identifier = "batch-key";
  PQ_ASSERT_OK_AND_ASSIGN(auto results, db().JobInsertMany({.jobs = {a, b, c}, .now = kT0}));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].inserted);
  EXPECT_EQ(results[0].id, a.id);
  EXPECT_FALSE(results[1].inserted);
  EXPECT_EQ(results[1].id, a.id);
  EXPECT_TRUE(results[2].inserted);
  EXPECT_EQ(results[2].id, c.id);
  PQ_EXPECT_CODE(Get(b.id), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, ConcurrentEnqueuesOfOneIdentifierMakeOneJob) {
  constexpr int kThreads = 8;
  std::vector<NewJob> jobs;
  for (int i = 0; i < kThreads; ++i) {
    jobs.push_back(Job());
    jobs.back().identifier = "racy";
  }
  std::vector<absl::StatusOr<EnqueueResult>> results(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kThreads) {
      }
      results[i] = Insert(jobs[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  int inserted = 0;
  std::set<JobId> ids;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    inserted += r->inserted ? 1 : 0;
    ids.insert(r->id);
  }
  EXPECT_EQ(inserted, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ListIds({.identifier = "racy"}).size(), 1u);
}

TEST_P(StoreConformanceTest, IdCollisionStoresNothingOfTheBatch) {
  NewJob existing = Job();
  PQ_ASSERT_OK(Insert(existing));
  NewJob before = Job(), clash = Job(), after = Job();
  clash.id = existing.id;
  clash.identifier = "new-identifier";
  PQ_EXPECT_CODE(db().JobInsertMany({.jobs = {before, clash, after}, .now = kT0}),
                 absl::StatusCode::kAlreadyExists);
  PQ_EXPECT_CODE(Get(before.id), absl::StatusCode::kNotFound);
  PQ_EXPECT_CODE(Get(after.id), absl::StatusCode::kNotFound);
  EXPECT_EQ(ListIds({.identifier = "new-identifier"}).size(), 0u);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(existing.id));
  EXPECT_EQ(got.identifier, "");
}

TEST_P(StoreConformanceTest, EmptyBatchIsOk) {
  PQ_ASSERT_OK_AND_ASSIGN(auto r, db().JobInsertMany({.jobs = {}, .now = kT0}));
  EXPECT_TRUE(r.empty());
}

// Text fields are UTF-8 without NUL on every backend (see
// docs/store-contract.md); anything else in them must come back verbatim.
TEST_P(StoreConformanceTest, HostileTextRoundTripsVerbatim) {
  std::string controls;
  for (char c = 1; c < 32; ++c) controls.push_back(c);
  const std::vector<std::string> texts = {
      "'; DROP TABLE jobs; --",
      "\"quoted\" 'single' `back` \\ \\\\ \\n",
      "Robert'); DELETE FROM jobs WHERE ('1'='1",
      "$1 ? ?1 :id @p %s %d {{table}} ${x} $$ $tag$",
      "{\"$where\":\"1==1\",\"$gt\":\"\"}",
      "ключ – 键 – キー – 🔑🚀 – e\xCC\x81 – \xEF\xBB\xBF"
      "bom",
      controls + "\x7F",
      std::string(10000, 'x') + "end",
  };
  int i = 0;
  for (const std::string& text : texts) {
    NewJob job = Job("queue '" + std::to_string(i) + "\" 🚀", text);
    job.identifier = text + std::to_string(i++);
    job.data = text;
    PQ_ASSERT_OK_AND_ASSIGN(EnqueueResult r, Insert(job));
    ASSERT_TRUE(r.inserted);
    PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(job.id));
    EXPECT_EQ(got.name, job.name);
    EXPECT_EQ(got.identifier, job.identifier);
    EXPECT_EQ(got.data, job.data);
    EXPECT_EQ(got.queue, job.queue);
    EXPECT_EQ(ListIds({.identifier = job.identifier}), std::vector<JobId>{job.id});
    EXPECT_EQ(ListIds({.queue = job.queue}), std::vector<JobId>{job.id});

    // Error messages and results too.
    PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({job.queue}, 1));
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].data, text);
    ASSERT_TRUE(Fail(job.id, 77, JobState::kDead, kT0, text));
    PQ_ASSERT_OK_AND_ASSIGN(got, Get(job.id));
    ASSERT_EQ(got.errors.size(), 1u);
    EXPECT_EQ(got.errors[0].message, text);
  }
  NewJob done = Job();
  PQ_ASSERT_OK(Insert(done));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 1));
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(Complete(done.id, 77, kT0, texts[5]));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(done.id));
  EXPECT_EQ(got.result, texts[5]);
}

TEST_P(StoreConformanceTest, SubscribersHearOfAvailableJobs) {
  if (!db().SupportsNotify()) GTEST_SKIP() << "backend has no notifications";
  Mutex mu;
  std::vector<std::string> heard;
  PQ_ASSERT_OK_AND_ASSIGN(int handle, db().Subscribe([&](const std::string& q) {
    MutexLock lock(&mu);
    heard.push_back(q);
  }));
  PQ_ASSERT_OK(Insert(Job("alpha")));
  PQ_ASSERT_OK(db().JobInsertMany({.jobs = {Job("beta"), Job("beta")}, .now = kT0}));
  // Notifications may be asynchronous (server backends): wait for them.
  auto heard_both = [&] {
    return std::count(heard.begin(), heard.end(), "alpha") >= 1 &&
           std::count(heard.begin(), heard.end(), "beta") >= 1;
  };
  {
    MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&heard_both), absl::Seconds(10)))
        << "heard " << heard.size() << " notifications";
  }
  db().Unsubscribe(handle);
  size_t before;
  {
    MutexLock lock(&mu);
    before = heard.size();
  }
  PQ_ASSERT_OK(Insert(Job("gamma")));
  MutexLock lock(&mu);
  EXPECT_EQ(std::count(heard.begin() + before, heard.end(), "gamma"), 0);
}

}  // namespace
}  // namespace popqueue::conformance
