// wait=N on the test cluster: with wait=1 the store's writes come back only
// once the slot's replica has them. With that replica stopped (SIGSTOP, so
// no failover starts: only masters fail over) a write fails with
// kUnavailable after timeout_ms saying 0 of 1 replicas acknowledged it (a
// script, a command, a pipeline, a coordinator lock alike) while it
// stays applied on the master (a refused claim leaves the job
// running there; the rescuer hands it out again); reads do not wait. After
// SIGCONT writes are acknowledged again and every job completes once.
#include <signal.h>

#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "coord/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/redis/redis_cluster_env.h"

namespace popqueue::testing {
namespace {

using ::testing::HasSubstr;

// The value of `field` in an INFO reply ("field:value" lines).
std::string InfoField(const std::string& info, const std::string& field) {
  for (absl::string_view line : absl::StrSplit(info, "\r\n")) {
    if (absl::StartsWith(line, field + ":")) {
      return std::string(line.substr(field.size() + 1));
    }
  }
  return "";
}

// The process id of the (first) replica of `master`, from INFO.
int ReplicaPid(redis::Client& master) {
  auto repl = master.Command({"INFO", "replication"});
  EXPECT_TRUE(repl.ok()) << repl.status();
  if (!repl.ok()) return -1;
  // slave0:ip=127.0.0.1,port=NNNN,state=online,offset=...,lag=0
  int port = 0;
  for (absl::string_view kv : absl::StrSplit(InfoField(repl->str, "slave0"), ',')) {
    if (absl::StartsWith(kv, "port=")) (void)absl::SimpleAtoi(kv.substr(5), &port);
  }
  EXPECT_GT(port, 0) << repl->str;
  if (port == 0) return -1;
  auto replica = ClientOf(absl::StrCat("redis://127.0.0.1:", port));
  if (replica == nullptr) return -1;
  auto server = replica->Command({"INFO", "server"});
  EXPECT_TRUE(server.ok()) << server.status();
  int pid = -1;
  if (server.ok()) (void)absl::SimpleAtoi(InfoField(server->str, "process_id"), &pid);
  return pid;
}

// Sends SIGCONT at scope exit, whatever failed.
class Stopped {
 public:
  explicit Stopped(int pid) : pid_(pid) { EXPECT_EQ(kill(pid_, SIGSTOP), 0); }
  ~Stopped() { Resume(); }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  int pid_;
};

TEST(RedisClusterWaitTest, WritesWaitForTheReplicaAndFailWhenItIsStopped) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  ClusterView view = ClusterView::Load();
  ASSERT_EQ(view.masters.size(), 3u);
  const std::string collection = CollectionOn(view, 1, "wait");
  ScopedKeys cleanup(collection);
  const std::string url = absl::StrCat(RedisClusterUrl(), "&wait=1&timeout_ms=1000");
  auto db = store::OpenStore({.url = url, .collection = collection});
  ASSERT_TRUE(db.ok()) << db.status();
  auto coord = coord::OpenCoordinator(url, collection);  // {collection}: masters[1]
  ASSERT_TRUE(coord.ok()) << coord.status();
  Workload w(*db);
  absl::Time t0 = absl::Now();
  ASSERT_TRUE(w.Enqueue(20).ok());
  std::printf("enqueue of 20 with wait=1: %s\n", absl::FormatDuration(absl::Now() - t0).c_str());
  auto lock = (*coord)->LockAcquire({.name = "l", .owner = "o", .ttl = absl::Seconds(5)});
  ASSERT_TRUE(lock.ok() && lock->has_value()) << lock.status();

  const int pid = ReplicaPid(*view.nodes[1]);
  ASSERT_GT(pid, 0);
  {
    Stopped stopped(pid);
    t0 = absl::Now();
    absl::Status refused = w.Enqueue(1);
    const absl::Duration took = absl::Now() - t0;
    std::printf("enqueue with the replica stopped: %s after %s\n", refused.ToString().c_str(),
                absl::FormatDuration(took).c_str());
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
    EXPECT_THAT(std::string(refused.message()),
                HasSubstr("0 of the 1 replicas that wait=1 asks for"));
    EXPECT_GE(took, absl::Milliseconds(900));
    EXPECT_LT(took, absl::Milliseconds(1000 + 250 + 500));
    auto other = (*coord)->LockAcquire({.name = "l2", .owner = "o", .ttl = absl::Seconds(5)});
    EXPECT_TRUE(absl::IsUnavailable(other.status())) << other.status();
    // A claim (one script in the queue's slot) is refused the same way,
    // yet applied on the master: one job is running there.
    auto claimed = (*db)->JobClaim({.queues = {"q"},
                                    .worker_id = "w",
                                    .limit = 1,
                                    .now = absl::Now(),
                                    .lease = absl::Seconds(30),
                                    .lease_token = 7});
    EXPECT_TRUE(absl::IsUnavailable(claimed.status())) << claimed.status();
    // A pipeline (QueueResume: DEL + PUBLISH in the queue's slot) too.
    absl::Status resumed = (*db)->QueueResume({.queue = "q", .now = absl::Now()});
    EXPECT_TRUE(absl::IsUnavailable(resumed)) << resumed;
    // Reads do not wait.
    t0 = absl::Now();
    auto counts = (*db)->JobCountByState();
    ASSERT_TRUE(counts.ok()) << counts.status();
    EXPECT_LT(absl::Now() - t0, absl::Milliseconds(500));
    std::map<JobState, int64_t> by_state;
    for (const QueueCounts& q : *counts) {
      for (const auto& [state, n] : q.by_state) by_state[state] += n;
    }
    EXPECT_EQ(by_state[JobState::kRunning], 1) << "the refused claim is applied";
    EXPECT_EQ(by_state[JobState::kAvailable], 19);
  }
  // The replica catches up: acknowledged again.
  absl::Status again;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    again = w.Enqueue(1);
  } while (!again.ok() && absl::Now() < deadline);
  ASSERT_TRUE(again.ok()) << again;
  ASSERT_TRUE(w.Drain().ok());
  EXPECT_TRUE(w.AllAcknowledgedCompletedOnce()) << w.Report();
  // 21 acknowledged; the refused enqueue stopped after its first step (the
  // collection slot), so it added no job.
  EXPECT_EQ(w.completed(), 21) << w.Report();
}

}  // namespace
}  // namespace popqueue::testing
