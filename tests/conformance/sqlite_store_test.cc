// SQLite-only behaviour beyond the shared contract: URL options, files and
// errors, bytes the portable suite avoids, two stores (as two processes) on
// one file, and lock timeouts.
#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store/registry.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::NewJob;
using store::OpenStore;
using store::Store;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "popqueue_sqlite_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    RemoveFiles();
  }
  void TearDown() override { RemoveFiles(); }
  void RemoveFiles() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((path_ + suffix).c_str());
    }
  }
  absl::StatusOr<std::shared_ptr<Store>> Open(const std::string& query = "",
                                              const std::string& table = "jobs") {
    return OpenStore(
        {.url = "sqlite://" + path_ + query, .db_name = "popqueue", .collection = table});
  }
  NewJob Job(const std::string& queue = "default") {
    return NewJob{.id = next_id_++, .queue = queue, .name = "n", .max_attempts = 2, .run_at = kT0};
  }

  std::string path_;
  JobId next_id_ = 1;
};

TEST_F(SqliteStoreTest, ArbitraryBytesInDataAndInvalidUtf8InErrors) {
  PQ_ASSERT_OK_AND_ASSIGN(auto db, Open());
  std::string bytes;
  for (int c = 0; c < 256; ++c) bytes.push_back(static_cast<char>(c));
  NewJob job = Job();
  job.data = bytes + bytes;
  job.identifier = std::string("nul\0inside", 10);
  PQ_ASSERT_OK(db->JobInsertMany({.jobs = {job}, .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db->JobGet({.id = job.id}));
  EXPECT_EQ(got.data, job.data);
  EXPECT_EQ(got.identifier, job.identifier);

  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, db->JobClaim({.queues = {"default"},
                                                      .limit = 1,
                                                      .now = kT0,
                                                      .lease = absl::Seconds(5),
                                                      .lease_token = 1}));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK(db->JobFailMany(
      {.items =
           {{.id = job.id, .lease_token = 1, .to = JobState::kDead, .error = "bad \xff\xfe bytes"}},
       .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(got, db->JobGet({.id = job.id}));
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].message, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

TEST_F(SqliteStoreTest, ReopenKeepsJobsAndMigrationIsIdempotent) {
  NewJob job = Job();
  {
    PQ_ASSERT_OK_AND_ASSIGN(auto db, Open());
    PQ_ASSERT_OK(db->JobInsertMany({.jobs = {job}, .now = kT0}));
    PQ_ASSERT_OK(db->Migrate());
  }
  PQ_ASSERT_OK_AND_ASSIGN(auto db, Open("?synchronous=full"));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db->JobGet({.id = job.id}));
  EXPECT_EQ(got.state, JobState::kAvailable);
  // Another collection in the same file is another world.
  PQ_ASSERT_OK_AND_ASSIGN(auto other, Open("", "other_jobs"));
  PQ_EXPECT_CODE(other->JobGet({.id = job.id}), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, BadUrlsAndFiles) {
  PQ_EXPECT_CODE(Open("?synchronous=sometimes"), absl::StatusCode::kInvalidArgument);
  PQ_EXPECT_CODE(Open("?cache=shared"), absl::StatusCode::kInvalidArgument);
  PQ_EXPECT_CODE(Open("?busy_timeout_ms=-1"), absl::StatusCode::kInvalidArgument);
  PQ_EXPECT_CODE(Open("", "bad-name; DROP"), absl::StatusCode::kInvalidArgument);
  auto missing_dir = OpenStore({.url = "sqlite:///nonexistent-dir/x/y.db", .collection = "jobs"});
  PQ_EXPECT_CODE(missing_dir, absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(missing_dir.status().message()).find("/nonexistent-dir"), std::string::npos)
      << missing_dir.status();
  std::ofstream(path_) << std::string(4096, 'x');
  PQ_EXPECT_CODE(Open(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, InMemoryDatabaseWorks) {
  PQ_ASSERT_OK_AND_ASSIGN(auto db, OpenStore({.url = "sqlite://:memory:", .collection = "jobs"}));
  NewJob job = Job();
  PQ_ASSERT_OK(db->JobInsertMany({.jobs = {job}, .now = kT0}));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, db->JobGet({.id = job.id}));
  EXPECT_EQ(got.id, job.id);
  PQ_ASSERT_OK_AND_ASSIGN(JobPage page, db->JobList({}));
  EXPECT_EQ(page.jobs.size(), 1u);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { PQ_ASSERT_OK(Open()); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "INSERT INTO jobs_schema_migrations VALUES (999, 0)", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  PQ_EXPECT_CODE(Open(), absl::StatusCode::kFailedPrecondition);
}

int64_t Available(Store& db, const std::string& queue) {
  absl::StatusOr<std::vector<QueueCounts>> counts = db.JobCountByState();
  if (!counts.ok()) return -1;
  for (const QueueCounts& q : *counts) {
    if (q.queue != queue) continue;
    auto it = q.by_state.find(JobState::kAvailable);
    return it == q.by_state.end() ? 0 : it->second;
  }
  return 0;
}

// The kept counts (migration 007): a rolled-back batch adds nothing, two
// stores on one file (two processes) both count, and migrating a file that
// already holds jobs counts them.
TEST_F(SqliteStoreTest, KeptCountsFollowRollbacksOtherProcessesAndMigration) {
  {
    PQ_ASSERT_OK_AND_ASSIGN(auto a, Open());
    PQ_ASSERT_OK_AND_ASSIGN(auto b, Open());
    NewJob first = Job("q");
    PQ_ASSERT_OK(a->JobInsertMany({.jobs = {first, Job("q")}, .now = kT0}));
    NewJob taken = Job("q");
    taken.id = first.id;
    PQ_EXPECT_CODE(a->JobInsertMany({.jobs = {Job("q"), taken}, .now = kT0}),
                   absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(Available(*a, "q"), 2);
    PQ_ASSERT_OK(b->JobInsertMany({.jobs = {Job("q")}, .now = kT0}));
    PQ_ASSERT_OK_AND_ASSIGN(auto claimed, b->JobClaim({.queues = {"q"},
                                                       .worker_id = "w",
                                                       .limit = 1,
                                                       .now = kT0,
                                                       .lease = absl::Seconds(30),
                                                       .lease_token = 1}));
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(Available(*a, "q"), 2);
    EXPECT_EQ(Available(*b, "q"), 2);
  }
  // As if the file came from a build before migration 007 (so without the
  // later ones too: 008's metadata column).
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "DROP TABLE jobs_counts; "
                         "ALTER TABLE jobs DROP COLUMN metadata; "
                         "DELETE FROM jobs_schema_migrations WHERE version >= 7",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  PQ_ASSERT_OK_AND_ASSIGN(auto reopened, Open());
  EXPECT_EQ(Available(*reopened, "q"), 2);
  PQ_ASSERT_OK_AND_ASSIGN(auto counts, reopened->JobCountByState());
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].by_state[JobState::kRunning], 1);
}

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableAfterBusyTimeout) {
  PQ_ASSERT_OK_AND_ASSIGN(auto db, Open("?busy_timeout_ms=50"));
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  PQ_EXPECT_CODE(db->JobInsertMany({.jobs = {Job()}, .now = kT0}), absl::StatusCode::kUnavailable);
  // Reads do not wait for the writer.
  PQ_EXPECT_OK(db->JobList({}));
  sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  PQ_EXPECT_OK(db->JobInsertMany({.jobs = {Job()}, .now = kT0}));
}

// Two stores on one file stand in for two worker processes: each has its own
// writer connection, so they contend through SQLite's file locks.
TEST_F(SqliteStoreTest, TwoStoresOnOneFileClaimEachJobOnce) {
  PQ_ASSERT_OK_AND_ASSIGN(auto a, Open());
  PQ_ASSERT_OK_AND_ASSIGN(auto b, Open());
  constexpr int kJobs = 2000;
  store::JobInsertManyParams params{.now = kT0};
  for (int i = 0; i < kJobs; ++i) params.jobs.push_back(Job());
  PQ_ASSERT_OK(a->JobInsertMany(params));
  std::vector<std::atomic<int>> claims(kJobs + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    Store* db = t % 2 == 0 ? a.get() : b.get();
    threads.emplace_back([&, db, t] {
      int64_t token = t * 100000;
      while (true) {
        auto claimed = db->JobClaim({.queues = {"default"},
                                     .limit = 25,
                                     .now = kT0,
                                     .lease = absl::Minutes(5),
                                     .lease_token = ++token});
        ASSERT_TRUE(claimed.ok()) << claimed.status();
        if (claimed->empty()) return;
        store::JobCompleteManyParams done{.now = kT0};
        for (const popqueue::Job& j : *claimed) {
          ++claims[j.id];
          done.items.push_back({.id = j.id, .lease_token = token});
        }
        auto completed = db->JobCompleteMany(done);
        ASSERT_TRUE(completed.ok()) << completed.status();
        EXPECT_EQ(completed->size(), claimed->size());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int id = 1; id <= kJobs; ++id) ASSERT_EQ(claims[id], 1) << id;
}

}  // namespace
}  // namespace popqueue::conformance
