// Conformance: leader election, the worker registry and once-only cron
// fires.
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

TEST_P(StoreConformanceTest, LeaderElectExtendContestExpireResign) {
  auto elect = [&](const std::string& who, absl::Time now,
                   const std::string& name = "maintenance") {
    absl::StatusOr<bool> won = db().LeaderAttemptElect(
        {.name = name, .leader_id = who, .now = now, .ttl = absl::Seconds(10)});
    EXPECT_TRUE(won.ok()) << won.status();
    return won.ok() && *won;
  };
  const absl::Duration s = absl::Seconds(1);
  EXPECT_TRUE(elect("a", kT0));           // free: a takes it until +10
  EXPECT_FALSE(elect("b", kT0 + 5 * s));  // contested while held
  EXPECT_TRUE(elect("a", kT0 + 5 * s));   // a extends to +15
  EXPECT_FALSE(elect("b", kT0 + 14 * s));
  EXPECT_TRUE(elect("b", kT0 + 15 * s));  // expired: b takes it until +25
  EXPECT_FALSE(elect("a", kT0 + 16 * s));
  EXPECT_TRUE(elect("a", kT0 + 16 * s, "other"));  // names are independent

  PQ_EXPECT_OK(db().LeaderResign({.name = "maintenance", .leader_id = "a"}));
  EXPECT_FALSE(elect("a", kT0 + 17 * s));  // a non-holder's resign is a no-op
  PQ_EXPECT_OK(db().LeaderResign({.name = "maintenance", .leader_id = "b"}));
  EXPECT_TRUE(elect("a", kT0 + 17 * s));  // free at once after resigning
}

TEST_P(StoreConformanceTest, LeaderElectionRaceHasOneWinner) {
  constexpr int kThreads = 8;
  std::atomic<int> winners{0}, ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kThreads) {
      }
      absl::StatusOr<bool> won = db().LeaderAttemptElect({.name = "race",
                                                          .leader_id = "c" + std::to_string(i),
                                                          .now = kT0,
                                                          .ttl = absl::Seconds(10)});
      EXPECT_TRUE(won.ok()) << won.status();
      if (won.ok() && *won) ++winners;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_P(StoreConformanceTest, WorkerRegistry) {
  WorkerInfo w1{.id = "w1",
                .host = "host-a",
                .pid = 123,
                .queues = {"default", "mail"},
                .started_at = kT0 - absl::Minutes(1)};
  WorkerInfo w2{.id = "w2", .host = "host-b", .pid = 456, .queues = {"x"}, .started_at = kT0};
  PQ_ASSERT_OK(db().WorkerRegister({.worker = w1, .now = kT0}));
  PQ_ASSERT_OK(db().WorkerRegister({.worker = w2, .now = kT0}));

  PQ_ASSERT_OK_AND_ASSIGN(auto workers, db().WorkerList({.now = kT0, .ttl = absl::Seconds(30)}));
  ASSERT_EQ(workers.size(), 2u);
  const WorkerInfo& got = workers[0].id == "w1" ? workers[0] : workers[1];
  EXPECT_EQ(got.id, "w1");
  EXPECT_EQ(got.host, "host-a");
  EXPECT_EQ(got.pid, 123);
  EXPECT_EQ(got.queues, (std::vector<std::string>{"default", "mail"}));
  EXPECT_EQ(got.started_at, kT0 - absl::Minutes(1));
  EXPECT_EQ(got.last_heartbeat_at, kT0);
  EXPECT_EQ(got.running, 0);

  // w2 falls silent; w1 keeps beating.
  const absl::Time t1 = kT0 + absl::Seconds(40);
  PQ_ASSERT_OK(db().WorkerHeartbeat({.worker_id = "w1", .running = 3, .now = t1}));
  PQ_ASSERT_OK_AND_ASSIGN(workers, db().WorkerList({.now = t1, .ttl = absl::Seconds(30)}));
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].id, "w1");
  EXPECT_EQ(workers[0].running, 3);
  EXPECT_EQ(workers[0].last_heartbeat_at, t1);

  PQ_ASSERT_OK(db().WorkerDeregister({.worker_id = "w1"}));
  PQ_ASSERT_OK_AND_ASSIGN(workers, db().WorkerList({.now = t1, .ttl = absl::Seconds(30)}));
  EXPECT_TRUE(workers.empty());
  PQ_EXPECT_CODE(db().WorkerHeartbeat({.worker_id = "w1", .now = t1}), absl::StatusCode::kNotFound);
  PQ_EXPECT_OK(db().WorkerDeregister({.worker_id = "never-registered"}));
  // Registering again revives it.
  PQ_ASSERT_OK(db().WorkerRegister({.worker = w2, .now = t1}));
  PQ_ASSERT_OK_AND_ASSIGN(workers, db().WorkerList({.now = t1, .ttl = absl::Seconds(30)}));
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].id, "w2");
}

// Workers on many hosts are told apart by the address their registry's server
// sees (WorkerInfo::address) and their pid: both read back as registered, an
// IPv6 address too, and a worker registering again from elsewhere (a moved
// host, a restarted process) replaces both.
TEST_P(StoreConformanceTest, WorkerRegistryKeepsAddressAndPid) {
  WorkerInfo a{.id = "on-a",
               .host = "node",
               .address = "10.77.0.2",
               .pid = 4242,
               .queues = {"default"},
               .started_at = kT0};
  WorkerInfo b{.id = "on-b",
               .host = "node",
               .address = "fd00:77::3",
               .pid = 2147483649,
               .queues = {"default"},
               .started_at = kT0};
  WorkerInfo none{
      .id = "no-address", .host = "node", .pid = 7, .queues = {"default"}, .started_at = kT0};
  for (const WorkerInfo& w : {a, b, none}) {
    PQ_ASSERT_OK(db().WorkerRegister({.worker = w, .now = kT0}));
  }
  auto list = [&](absl::Time now) {
    absl::StatusOr<std::vector<WorkerInfo>> got =
        db().WorkerList({.now = now, .ttl = absl::Seconds(30)});
    EXPECT_TRUE(got.ok()) << got.status();
    std::map<std::string, std::pair<std::string, int64_t>> out;
    for (const WorkerInfo& w : got.ok() ? *got : std::vector<WorkerInfo>{}) {
      out[w.id] = {w.address, w.pid};
    }
    return out;
  };
  using Seen = std::map<std::string, std::pair<std::string, int64_t>>;
  EXPECT_EQ(list(kT0), (Seen{{"on-a", {"10.77.0.2", 4242}},
                             {"on-b", {"fd00:77::3", 2147483649}},
                             {"no-address", {"", 7}}}));
  // A heartbeat keeps them; registering again from another host moves them.
  const absl::Time t1 = kT0 + absl::Seconds(5);
  PQ_ASSERT_OK(db().WorkerHeartbeat({.worker_id = "on-a", .running = 1, .now = t1}));
  a.address = "10.77.0.9";
  a.pid = 99;
  PQ_ASSERT_OK(db().WorkerRegister({.worker = a, .now = t1}));
  EXPECT_EQ(list(t1), (Seen{{"on-a", {"10.77.0.9", 99}},
                            {"on-b", {"fd00:77::3", 2147483649}},
                            {"no-address", {"", 7}}}));
}

TEST_P(StoreConformanceTest, CronFireOnceUnderRacingThreads) {
  constexpr int kThreads = 8;
  const absl::Time fire = kT0 + absl::Minutes(5);
  std::vector<store::NewJob> jobs;
  for (int i = 0; i < kThreads; ++i) jobs.push_back(Job("cron", "report"));
  std::atomic<int> inserted{0}, ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kThreads) {
      }
      absl::StatusOr<bool> r = db().CronFireOnce(
          {.schedule = "nightly", .fire_time = fire, .job = jobs[i], .now = fire});
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok() && *r) ++inserted;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_EQ(ListIds({.queue = "cron"}).size(), 1u);

  // The same fire later: refused. The next fire, or another schedule: once.
  store::NewJob late = Job("cron", "report");
  PQ_ASSERT_OK_AND_ASSIGN(
      bool again,
      db().CronFireOnce(
          {.schedule = "nightly", .fire_time = fire, .job = late, .now = fire + absl::Hours(1)}));
  EXPECT_FALSE(again);
  PQ_EXPECT_CODE(Get(late.id), absl::StatusCode::kNotFound);
  store::NewJob next = Job("cron", "report");
  PQ_ASSERT_OK_AND_ASSIGN(
      bool fired,
      db().CronFireOnce(
          {.schedule = "nightly", .fire_time = fire + absl::Hours(24), .job = next, .now = fire}));
  EXPECT_TRUE(fired);
  store::NewJob other = Job("cron", "report");
  PQ_ASSERT_OK_AND_ASSIGN(
      fired,
      db().CronFireOnce({.schedule = "hourly", .fire_time = fire, .job = other, .now = fire}));
  EXPECT_TRUE(fired);
  EXPECT_EQ(ListIds({.queue = "cron"}).size(), 3u);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job got, Get(next.id));
  EXPECT_EQ(got.name, "report");
}

}  // namespace
}  // namespace popqueue::conformance
