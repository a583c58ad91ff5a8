// PostgreSQL-specific behaviour of the store: URLs, migrations, the stored
// forms, batch semantics and concurrency. The shared semantics are covered
// by tests/conformance.
#include <atomic>
#include <set>
#include <thread>

#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pg_test_env.h"
#include "store/postgres/sql_catalog.h"
#include "store/registry.h"

namespace popqueue::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    POPQUEUE_REQUIRE_POSTGRES();
    collection_ = UniqueCollection("pgt");
    auto s = OpenTestStore(collection_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *s;
  }

  std::vector<Job> Claim(int limit, std::vector<std::string> queues = {"default"},
                         absl::Time now = kNow) {
    auto jobs = store_->JobClaim({.queues = std::move(queues),
                                  .worker_id = "w1",
                                  .limit = limit,
                                  .now = now,
                                  .lease = absl::Seconds(30),
                                  .lease_token = 77});
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    return jobs.ok() ? *jobs : std::vector<Job>{};
  }

  std::string collection_;
  std::shared_ptr<store::postgres::PostgresStore> store_;
};

TEST(PostgresOpenTest, UrlFormsAndDbNameFallback) {
  POPQUEUE_REQUIRE_POSTGRES();
  auto url = ParseUrl(PostgresUrl());
  ASSERT_TRUE(url.ok());
  std::string base = absl::StrCat("postgres://postgres@", url->host, ":", url->port);
  for (const std::string& u : {PostgresUrl(), absl::StrCat("postgresql://postgres@", url->host, ":",
                                                           url->port, "/postgres")}) {
    auto s = store::OpenStore({.url = u, .db_name = "ignored", .collection = "open_a"});
    EXPECT_TRUE(s.ok()) << u << ": " << s.status();
  }
  // The original README's form: no path, the database is db_name.
  auto s = store::OpenStore({.url = base, .db_name = "postgres", .collection = "open_a"});
  EXPECT_TRUE(s.ok()) << s.status();
  auto missing = store::OpenStore({.url = base, .db_name = "no_such_db", .collection = "open_a"});
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no_such_db"));
}

TEST(PostgresOpenTest, UnreachableServerIsUnavailableWithoutPassword) {
  // A port nothing listens on; the password must never reach a message.
  auto s = store::OpenStore(
      {.url = "postgres://u:s3cr3t@127.0.0.1:1/db", .db_name = "", .collection = "jobs"});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnavailable(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("127.0.0.1:1/db"));
  EXPECT_THAT(s.status().message(), Not(HasSubstr("s3cr3t")));
}

TEST(PostgresOpenTest, RejectsCollectionsTooLongForDerivedNames) {
  POPQUEUE_REQUIRE_POSTGRES();
  auto s = OpenTestStore(std::string(60, 'a'));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
}

TEST(PostgresOpenTest, ConcurrentMigrationsAreSafe) {
  POPQUEUE_REQUIRE_POSTGRES();
  std::string collection = UniqueCollection("mig");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] { ok += OpenTestStore(collection).ok() ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  RawConn c = RawConnect();
  EXPECT_THAT(Column(c.get(), absl::StrCat("SELECT version FROM \"", collection,
                                           "_migrations\" ORDER BY 1")),
              ElementsAre("1", "2", "3", "4", "6", "8"));
}

// A start that finds the schema current reads the applied migrations and
// goes on: it never waits for the migration lock, which another process may
// hold for a long migration of another version.
TEST(PostgresOpenTest, CurrentSchemaOpensWithoutTheMigrationLock) {
  POPQUEUE_REQUIRE_POSTGRES();
  std::string collection = UniqueCollection("migfast");
  ASSERT_TRUE(OpenTestStore(collection).ok());
  absl::StatusOr<store::postgres::SqlCatalog> catalog =
      store::postgres::SqlCatalog::Create(collection);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  RawConn holder = RawConnect();
  ASSERT_THAT(Column(holder.get(), absl::StrCat("SELECT pg_advisory_lock(",
                                                catalog->LockKey("migrate"), ")::text")),
              ElementsAre(""));
  absl::Time t0 = absl::Now();
  auto again = OpenTestStore(collection);
  EXPECT_TRUE(again.ok()) << again.status();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  // A new collection still migrates under the lock: it waits for the holder.
  std::string fresh = UniqueCollection("migfast");
  absl::StatusOr<store::postgres::SqlCatalog> fresh_catalog =
      store::postgres::SqlCatalog::Create(fresh);
  ASSERT_TRUE(fresh_catalog.ok());
  ASSERT_THAT(Column(holder.get(), absl::StrCat("SELECT pg_advisory_lock(",
                                                fresh_catalog->LockKey("migrate"), ")::text")),
              ElementsAre(""));
  std::atomic<bool> opened{false};
  std::thread opener([&] { opened = OpenTestStore(fresh).ok(); });
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(opened.load());
  Column(holder.get(), "SELECT pg_advisory_unlock_all()::text");
  opener.join();
  EXPECT_TRUE(opened.load());
}

TEST_F(PostgresStoreTest, BatchInsertDeduplicatesIdentifiers) {
  auto r =
      store_->JobInsertMany({.jobs = {MakeJob(1, "default", "k"), MakeJob(2, "default", "k"),
                                      MakeJob(3), MakeJob(4, "default", "", kNow + absl::Hours(1))},
                             .now = kNow});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].id, 1);
  EXPECT_TRUE((*r)[0].inserted);
  EXPECT_EQ((*r)[1].id, 1);  // the first of the batch holds "k"
  EXPECT_FALSE((*r)[1].inserted);
  EXPECT_EQ((*r)[3].state, JobState::kScheduled);

  auto again = store_->JobInsertMany({.jobs = {MakeJob(5, "default", "k")}, .now = kNow});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].id, 1);
  EXPECT_FALSE((*again)[0].inserted);

  // Once the holder is final the identifier is free again.
  std::vector<Job> claimed = Claim(10);
  ASSERT_EQ(claimed.size(), 2u);
  auto done = store_->JobCompleteMany(
      {.items = {{.id = 1, .lease_token = 77, .result = "ok"}}, .now = kNow});
  ASSERT_TRUE(done.ok());
  EXPECT_THAT(*done, ElementsAre(1));
  auto reused = store_->JobInsertMany({.jobs = {MakeJob(6, "default", "k")}, .now = kNow});
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ((*reused)[0].id, 6);
  EXPECT_TRUE((*reused)[0].inserted);
}

TEST_F(PostgresStoreTest, IdCollisionStoresNothing) {
  ASSERT_TRUE(store_->JobInsertMany({.jobs = {MakeJob(10)}, .now = kNow}).ok());
  auto r = store_->JobInsertMany({.jobs = {MakeJob(11), MakeJob(10)}, .now = kNow});
  EXPECT_TRUE(absl::IsAlreadyExists(r.status())) << r.status();
  EXPECT_TRUE(absl::IsNotFound(store_->JobGet({.id = 11}).status()));
}

TEST_F(PostgresStoreTest, ClaimOrderFencingAndStoredErrors) {
  store::NewJob low = MakeJob(1), high = MakeJob(2), due = MakeJob(3);
  high.priority = -1;
  due.run_at = kNow + absl::Seconds(5);  // scheduled, due later
  ASSERT_TRUE(store_->JobInsertMany({.jobs = {low, high, due}, .now = kNow}).ok());
  std::vector<Job> first = Claim(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, 2);
  EXPECT_EQ(first[0].state, JobState::kRunning);
  EXPECT_EQ(first[0].attempt, 1);
  EXPECT_EQ(first[0].lease_expires_at, kNow + absl::Seconds(30));
  // The scheduled job is claimable once due, in the same call.
  std::vector<Job> rest = Claim(5, {"default"}, kNow + absl::Seconds(10));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].id, 1);
  EXPECT_EQ(rest[1].id, 3);

  auto failed = store_->JobFailMany(
      {.items = {{.id = 2, .lease_token = 999, .to = JobState::kDead, .error = "x"},
                 {.id = 1,
                  .lease_token = 77,
                  .to = JobState::kRetryable,
                  .run_at = kNow + absl::Minutes(1),
                  .error = "boom \xff"}},
       .now = kNow});
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_THAT(*failed, ElementsAre(1));  // job 2: wrong token, refused
  auto job = store_->JobGet({.id = 1});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kRetryable);
  ASSERT_EQ(job->errors.size(), 1u);
  EXPECT_EQ(job->errors[0].attempt, 1);
  EXPECT_EQ(job->errors[0].at, kNow);
  EXPECT_EQ(job->errors[0].message, "boom \xEF\xBF\xBD");

  RawConn c = RawConnect();
  std::vector<std::string> raw =
      Column(c.get(), absl::StrCat("SELECT errors::text FROM \"", collection_, "\" WHERE id = 1"));
  ASSERT_EQ(raw.size(), 1u);
  nlohmann::json stored = nlohmann::json::parse(raw[0]);
  EXPECT_EQ(stored[0]["at"].get<int64_t>(), absl::ToUnixMillis(kNow));
  EXPECT_EQ(stored[0]["attempt"].get<int>(), 1);
}

TEST_F(PostgresStoreTest, CheckConstraintsGuardInvariants) {
  ASSERT_TRUE(store_->JobInsertMany({.jobs = {MakeJob(1)}, .now = kNow}).ok());
  RawConn c = RawConnect();
  PGresult* r =
      PQexec(c.get(), absl::StrCat("UPDATE \"", collection_, "\" SET state = 'running'").c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);  // running without a lease
  PQclear(r);
  r = PQexec(c.get(), absl::StrCat("UPDATE \"", collection_, "\" SET state = 'bogus'").c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  PQclear(r);
}

TEST_F(PostgresStoreTest, PausedQueuesAreNotClaimed) {
  ASSERT_TRUE(
      store_->JobInsertMany({.jobs = {MakeJob(1, "a"), MakeJob(2, "b")}, .now = kNow}).ok());
  ASSERT_TRUE(store_->QueuePause({.queue = "a", .now = kNow}).ok());
  std::vector<Job> got = Claim(10, {"a", "b"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].queue, "b");
  ASSERT_TRUE(store_->QueueResume({.queue = "a", .now = kNow}).ok());
  EXPECT_EQ(Claim(10, {"a", "b"}).size(), 1u);
  auto queues = store_->QueueList();
  ASSERT_TRUE(queues.ok());
  ASSERT_EQ(queues->size(), 2u);
  EXPECT_EQ((*queues)[0].name, "a");
  EXPECT_FALSE((*queues)[0].paused);
}

TEST_F(PostgresStoreTest, CountsFollowEveryChangeAndSurviveCompaction) {
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 50; ++i) jobs.push_back(MakeJob(i, i % 2 ? "odd" : "even"));
  ASSERT_TRUE(store_->JobInsertMany({.jobs = jobs, .now = kNow}).ok());
  std::vector<Job> claimed = Claim(10, {"odd"});
  ASSERT_EQ(claimed.size(), 10u);
  ASSERT_TRUE(
      store_->JobCompleteMany({.items = {{.id = claimed[0].id, .lease_token = 77}}, .now = kNow})
          .ok());
  ASSERT_TRUE(store_->JobDelete({.id = 2}).ok());
  auto check = [&] {
    auto counts = store_->JobCountByState();
    ASSERT_TRUE(counts.ok()) << counts.status();
    ASSERT_EQ(counts->size(), 2u);
    EXPECT_EQ((*counts)[0].queue, "even");
    EXPECT_EQ((*counts)[0].by_state.at(JobState::kAvailable), 24);
    EXPECT_EQ((*counts)[1].by_state.at(JobState::kAvailable), 15);
    EXPECT_EQ((*counts)[1].by_state.at(JobState::kRunning), 9);
    EXPECT_EQ((*counts)[1].by_state.at(JobState::kCompleted), 1);
  };
  check();
  ASSERT_TRUE(store_->CompactCounts().ok());
  check();
}

TEST_F(PostgresStoreTest, ConcurrentClaimersNeverShareAJob) {
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 2000; ++i) jobs.push_back(MakeJob(i));
  ASSERT_TRUE(store_->JobInsertMany({.jobs = jobs, .now = kNow}).ok());
  Mutex mu;
  std::multiset<JobId> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (true) {
        std::vector<Job> got = Claim(50);
        if (got.empty()) return;
        MutexLock lock(&mu);
        for (const Job& j : got) seen.insert(j.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_EQ(std::set<JobId>(seen.begin(), seen.end()).size(), 2000u);
}

TEST_F(PostgresStoreTest, CronFiresOnceAndLeadershipExpires) {
  store::CronFireOnceParams fire{
      .schedule = "nightly", .fire_time = kNow, .job = MakeJob(100), .now = kNow};
  auto first = store_->CronFireOnce(fire);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  fire.job.id = 101;
  auto second = store_->CronFireOnce(fire);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  EXPECT_TRUE(store_->JobGet({.id = 100}).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->JobGet({.id = 101}).status()));

  auto elect = [&](const std::string& who, absl::Time now) {
    auto r = store_->LeaderAttemptElect(
        {.name = "maintenance", .leader_id = who, .now = now, .ttl = absl::Seconds(10)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && *r;
  };
  EXPECT_TRUE(elect("a", kNow));
  EXPECT_FALSE(elect("b", kNow + absl::Seconds(5)));
  EXPECT_TRUE(elect("a", kNow + absl::Seconds(9)));  // renews until +19 s
  EXPECT_FALSE(elect("b", kNow + absl::Seconds(15)));
  EXPECT_TRUE(elect("b", kNow + absl::Seconds(20)));
  ASSERT_TRUE(store_->LeaderResign({.name = "maintenance", .leader_id = "b"}).ok());
  EXPECT_TRUE(elect("a", kNow + absl::Seconds(21)));
}

TEST_F(PostgresStoreTest, ListUsesKeysetPages) {
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 7; ++i) jobs.push_back(MakeJob(i));
  ASSERT_TRUE(store_->JobInsertMany({.jobs = jobs, .now = kNow}).ok());
  auto page = store_->JobList({.filter = {.limit = 3}});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 3u);
  EXPECT_EQ(page->jobs[0].id, 7);
  ASSERT_TRUE(page->next_before_id.has_value());
  auto next = store_->JobList({.filter = {.before_id = page->next_before_id, .limit = 10}});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->jobs.size(), 4u);
  EXPECT_FALSE(next->next_before_id.has_value());
  auto by_state = store_->JobList({.filter = {.states = {JobState::kRunning}, .limit = 10}});
  ASSERT_TRUE(by_state.ok());
  EXPECT_TRUE(by_state->jobs.empty());
}

}  // namespace
}  // namespace popqueue::testing
