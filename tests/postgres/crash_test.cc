// A PostgreSQL server killed with SIGKILL (postmaster and every backend, as a
// crash does: nothing flushed, no shutdown checkpoint) on a durable server
// (fsync, synchronous_commit on; POPQUEUE_TEST_POSTGRES_DURABLE_* from
// scripts/lib/services.sh, whose wal_writer_delay of 10 s keeps asynchronous
// commits in the server's memory until the next synchronous one).
//
// Claims commit asynchronously (job_claim.sql); enqueues and completions
// synchronously. What the crash may lose is only claims made after the last
// synchronous commit: their jobs are available again, and completions with
// their lease tokens are refused (fencing). Every acknowledged enqueue and
// completion survives, and so does every claim made before one of them (the
// WAL is flushed in order).
#include <cstdlib>
#include <iostream>
#include <set>

#include "gtest/gtest.h"
#include "pg_test_env.h"

namespace popqueue::testing {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

std::vector<store::JobCompleteItem> Items(const std::vector<Job>& jobs, size_t from, size_t to,
                                          int64_t token) {
  std::vector<store::JobCompleteItem> items;
  for (size_t i = from; i < to && i < jobs.size(); ++i) {
    items.push_back({.id = jobs[i].id, .lease_token = token, .result = "ok"});
  }
  return items;
}

TEST(PostgresCrashTest, KilledServerKeepsAcknowledgedWritesAndFencesLostClaims) {
  const std::string url = EnvOr("POPQUEUE_TEST_POSTGRES_DURABLE_URL");
  const std::string kill = EnvOr("POPQUEUE_TEST_POSTGRES_DURABLE_KILL");
  const std::string start = EnvOr("POPQUEUE_TEST_POSTGRES_DURABLE_START");
  if (url.empty() || kill.empty() || start.empty()) {
    if (EnvOr("CI") == "true") {
      FAIL() << "POPQUEUE_TEST_POSTGRES_DURABLE_URL/_KILL/_START unset (CI=true)";
    }
    GTEST_SKIP() << "POPQUEUE_TEST_POSTGRES_DURABLE_URL/_KILL/_START unset "
                    "(scripts/lib/services.sh starts the durable server)";
  }
  auto opened = OpenTestStore(UniqueCollection("crash"), url);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<store::postgres::PostgresStore> store = *opened;

  constexpr int kJobs = 300;
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= kJobs; ++i) jobs.push_back(MakeJob(i));
  ASSERT_TRUE(store->JobInsertMany({.jobs = jobs, .now = kNow}).ok());

  auto claim = [&](int limit, int64_t token) {
    return store->JobClaim({.queues = {"default"},
                            .worker_id = "w",
                            .limit = limit,
                            .now = kNow,
                            .lease = absl::Minutes(5),
                            .lease_token = token});
  };
  // Claim A, then a synchronous completion of half of it: its flush carries
  // claim A to the disk.
  auto a = claim(100, 11);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 100u);
  auto done = store->JobCompleteMany({.items = Items(*a, 0, 50, 11), .now = kNow});
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->size(), 50u);
  // Claim B, with no synchronous commit after it.
  auto b = claim(100, 22);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->size(), 100u);

  ASSERT_EQ(std::system(kill.c_str()), 0) << kill;
  ASSERT_EQ(std::system(start.c_str()), 0) << start;

  // The same store: its pool finds the old connections dead and reconnects.
  auto get = [&](JobId id) {
    absl::StatusOr<Job> job;
    for (int i = 0; i < 50; ++i) {
      job = store->JobGet({.id = id});
      if (!absl::IsUnavailable(job.status())) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return job;
  };
  std::set<JobId> a_done, a_open, b_ids;
  for (size_t i = 0; i < 50; ++i) a_done.insert((*a)[i].id);
  for (size_t i = 50; i < 100; ++i) a_open.insert((*a)[i].id);
  for (const Job& j : *b) b_ids.insert(j.id);
  std::set<JobId> b_kept, b_lost;
  for (JobId id = 1; id <= kJobs; ++id) {
    absl::StatusOr<Job> job = get(id);
    ASSERT_TRUE(job.ok()) << "job " << id << ": " << job.status();  // nothing lost
    if (a_done.contains(id)) {
      EXPECT_EQ(job->state, JobState::kCompleted) << id;
    } else if (a_open.contains(id)) {
      EXPECT_EQ(job->state, JobState::kRunning) << id;
      EXPECT_EQ(job->lease_token, 11) << id;
    } else if (b_ids.contains(id)) {
      if (job->state == JobState::kRunning) {
        EXPECT_EQ(job->lease_token, 22) << id;
        b_kept.insert(id);
      } else {
        EXPECT_EQ(job->state, JobState::kAvailable) << id;
        EXPECT_EQ(job->attempt, 0) << id;
        b_lost.insert(id);
      }
    } else {
      EXPECT_EQ(job->state, JobState::kAvailable) << id;
    }
  }
  std::cout << "after the crash: claims of B kept " << b_kept.size() << ", lost " << b_lost.size()
            << "\n";

  // Completions with claim B's token succeed exactly for the claims kept.
  auto b_done = store->JobCompleteMany({.items = Items(*b, 0, 100, 22), .now = kNow});
  ASSERT_TRUE(b_done.ok()) << b_done.status();
  EXPECT_EQ(std::set<JobId>(b_done->begin(), b_done->end()), b_kept);
  auto a_rest = store->JobCompleteMany({.items = Items(*a, 50, 100, 11), .now = kNow});
  ASSERT_TRUE(a_rest.ok()) << a_rest.status();
  EXPECT_EQ(a_rest->size(), 50u);

  // Everything else is claimable once and completes: every job completed.
  auto rest = claim(1000, 33);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->size(), static_cast<size_t>(kJobs - 100) - b_kept.size());
  auto rest_done =
      store->JobCompleteMany({.items = Items(*rest, 0, rest->size(), 33), .now = kNow});
  ASSERT_TRUE(rest_done.ok()) << rest_done.status();
  EXPECT_EQ(rest_done->size(), rest->size());
  for (JobId id = 1; id <= kJobs; ++id) {
    absl::StatusOr<Job> job = store->JobGet({.id = id});
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state, JobState::kCompleted) << id;
  }
}

}  // namespace
}  // namespace popqueue::testing
