// The rescuer after a stall: a store call that succeeds, but late, is an
// outage too (src/core/maintenance.cc, Loop()). The store here is a real
// SQLite database whose write lock another connection holds for longer than
// the lease, as a stopped server or a cut link shorter than the client's
// timeout would: the maintenance leader's calls wait in SQLite's busy
// handler and then succeed, and a live worker's heartbeats could not get
// through meanwhile either. Its lease lapsed during the stall; the rescuer
// must give it one lease to renew instead of taking the job at once (before
// the fix it did, and the job ran twice). A worker that really died during
// the stall still has its job rescued, a lease later.
#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "common/ids.h"
#include "core/maintenance.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/support/test_util.h"

namespace popqueue::testing {
namespace {

constexpr absl::Duration kLease = absl::Seconds(2);
constexpr absl::Duration kBeat = absl::Milliseconds(300);

TEST(RescuerStall, ALeaseLapsedDuringASlowButSuccessfulCallIsNotTakenAtOnce) {
  TempDir dir;
  auto opened = store::OpenStore({.url = dir.SqliteUrl(), .collection = "jobs"});
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<store::Store> db = *opened;
  ASSERT_TRUE(db->Migrate().ok());

  IdGenerator ids;
  const absl::Time t0 = absl::Now();
  std::vector<store::NewJob> jobs;
  for (const char* data : {"live", "dead"}) {
    jobs.push_back({.id = ids.Next(t0),
                    .queue = "default",
                    .name = "work",
                    .data = data,
                    .max_attempts = 3,
                    .run_at = t0});
  }
  ASSERT_TRUE(db->JobInsertMany({.jobs = jobs, .now = t0}).ok());
  const int64_t live_token = RandomToken(), dead_token = RandomToken();
  auto live = db->JobClaim({.queues = {"default"},
                            .worker_id = "live-worker",
                            .limit = 1,
                            .now = t0,
                            .lease = kLease,
                            .lease_token = live_token});
  ASSERT_TRUE(live.ok() && live->size() == 1u) << live.status();
  auto dead = db->JobClaim({.queues = {"default"},
                            .worker_id = "dead-worker",
                            .limit = 1,
                            .now = t0,
                            .lease = kLease,
                            .lease_token = dead_token});
  ASSERT_TRUE(dead.ok() && dead->size() == 1u) << dead.status();
  const JobId live_id = (*live)[0].id, dead_id = (*dead)[0].id;
  auto beat = [&]() {
    auto r = db->JobHeartbeatMany({.items = {{.id = live_id, .lease_token = live_token}},
                                   .now = absl::Now(),
                                   .lease = kLease});
    return r.ok() && r->extended.size() == 1u && r->extended[0] == live_id;
  };

  WorkerOptions options;
  options.lease = kLease;
  options.heartbeat_interval = kBeat;
  options.rescue_interval = absl::Milliseconds(50);
  options.leader_ttl = absl::Seconds(30);
  core::Maintenance maintenance(db, Clock::Real(), options, "leader");
  maintenance.Start();
  ASSERT_TRUE(Eventually([&] { return maintenance.is_leader(); }, absl::Seconds(10)));
  ASSERT_TRUE(beat());

  // The stall: 1.5 leases with the database's write lock held elsewhere
  // (the store's busy timeout, 5 s, is longer: its calls wait, then work).
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/q.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  absl::SleepFor(kLease * 1.5);  // the fault's length, not a wait for a condition
  ASSERT_EQ(sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);

  // The live worker renews at its next beat; by then a rescuer that did not
  // wait has returned the job (the renewal is refused, the job runs again).
  absl::SleepFor(kBeat);
  EXPECT_TRUE(beat()) << "the live worker's lease was rescued right after the stall";
  // It keeps renewing for two more leases: the job stays its own...
  const absl::Time until = absl::Now() + 2 * kLease;
  while (absl::Now() < until) {
    absl::SleepFor(kBeat);
    ASSERT_TRUE(beat()) << "the live worker's lease was rescued";
  }
  auto got = db->JobGet({.id = live_id});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, JobState::kRunning);
  EXPECT_EQ(got->lease_token, live_token);
  EXPECT_EQ(got->attempt, 1);
  // ...while the worker that died is rescued, one lease after the stall.
  got = db->JobGet({.id = dead_id});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NE(got->state, JobState::kRunning);
  EXPECT_EQ(got->attempt, 1);
  maintenance.Stop();
}

}  // namespace
}  // namespace popqueue::testing
