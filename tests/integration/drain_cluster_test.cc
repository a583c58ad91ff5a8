// Four worker processes (drain_worker.cc) drain jobs spread over six queues
// of one collection on a Redis Cluster of the test's own (3 masters + 3
// replicas started by scripts/lib/redis_cluster.sh in a temp folder, on free
// ports; stopped at the end), while the cluster changes under them:
//
// - SlotMigrationDuringDrain: the slot of a busy queue moves to another
//   master (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE 10 keys at a time,
//   SETSLOT NODE: what redis-cli --cluster reshard does) while its jobs are
//   claimed. The slot's scripts wait out the migration (ASK), commands
//   follow ASK; every job runs exactly once and ends completed.
// - MasterKilledDuringDrainWithWait1: every call with wait=1 (enqueues
//   too); the master holding the first queue's slot is SIGKILLed once a
//   fifth of the jobs ran; its replica takes over after cluster-node-timeout
//   (5000 ms, the README's), and the killed node, started again, rejoins as
//   the new master's replica (until then wait=1 writes on its slots fail:
//   the new master has no replica). The drain completes: every enqueued job
//   completed (none lost, none dead), and a job ran twice only if its queue
//   was on the killed master. The test prints the failover's timings and
//   the duplicates.
//
// Needs redis-server and redis-cli (scripts/install-deps); never skips.
// Four processes and six servers on a 2-core machine: RUN_SERIAL.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "store/redis/keys.h"
#include "store/registry.h"
#include "store/store.h"
#include "tests/integration/worker_group.h"
#include "tests/redis/redis_cluster_env.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

using testing::ClusterView;

constexpr int kConcurrency = 32;
constexpr int kQueues = 6;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A 3+3 cluster in a temp folder, from scripts/lib/redis_cluster.sh.
class OwnCluster {
 public:
  bool Start() {
    const std::string cmd =
        absl::StrCat("bash -c 'set -e; . \"", POPQUEUE_SOURCE_DIR, "/scripts/lib/services.sh\"; ",
                     "SERVICES_DIR=\"", tmp_.path(), "\"; start_redis_cluster >\"", tmp_.path(),
                     "/start.log\" 2>&1; printf \"%s\\n\" \"$POPQUEUE_TEST_REDIS_CLUSTER_URL\" >\"",
                     tmp_.path(), "/url\"'");
    started_ = true;
    if (std::system(cmd.c_str()) != 0) {
      std::printf("%s\n", ReadFile(tmp_.path() + "/start.log").c_str());
      return false;
    }
    url_ = ReadFile(tmp_.path() + "/url");
    return !url_.empty();
  }
  ~OwnCluster() {
    if (started_) (void)Script("stop.sh", "");
  }
  int Script(const std::string& name, const std::string& args) const {
    return std::system(absl::StrCat(tmp_.path(), "/redis-cluster/", name, " ", args).c_str());
  }
  const std::string& url() const { return url_; }

 private:
  testing::TempDir tmp_;
  bool started_ = false;
  std::string url_;
};

// kQueues queue names of `collection`, two on each master.
std::vector<std::string> SpreadQueues(const ClusterView& view, const std::string& collection) {
  std::map<int, int> per_master;
  std::vector<std::string> out;
  for (int i = 0; static_cast<int>(out.size()) < kQueues && i < 10000; ++i) {
    const std::string q = absl::StrCat("q", i);
    const int owner = view.OwnerOf(redis::KeySlot(store::redis_store::QueueTag(collection, q)));
    if (owner < 0 || per_master[owner] >= kQueues / 3) continue;
    ++per_master[owner];
    out.push_back(q);
  }
  return out;
}

int SlotOf(const std::string& collection, const std::string& queue) {
  return redis::KeySlot(store::redis_store::QueueTag(collection, queue));
}

struct Drain {
  int n = 0;
  std::string url;
  std::string collection;
  std::vector<std::string> queues;
  testing::TempDir tmp;
  WorkerGroup workers;
  std::string log() const { return tmp.path() + "/drain.log"; }

  // Enqueues n jobs round robin over the queues (job i on queues[i % 6],
  // data = i), 3 retries, then starts the four workers.
  void Start() {
    QueueConfig config{
        .db_url = url, .db_name = "popqueue", .collection = collection, .retries = 3};
    config.worker.handle_signals = false;
    Queue producer(config);
    ASSERT_TRUE(producer.status().ok()) << producer.status();
    const absl::Time t0 = absl::Now();
    for (int done = 0; done < n; done += 1000) {
      std::vector<EnqueueRequest> batch;
      for (int i = done; i < std::min(n, done + 1000); ++i) {
        batch.push_back({.name = "drain",
                         .data = std::to_string(i),
                         .options = {.queue = queues[i % queues.size()]}});
      }
      auto enqueued = producer.EnqueueMany(std::move(batch));
      ASSERT_TRUE(enqueued.ok()) << enqueued.status();
    }
    std::printf("enqueued %d jobs on %s in %.1f s\n", n, absl::StrJoin(queues, ",").c_str(),
                absl::ToDoubleSeconds(absl::Now() - t0));
    ASSERT_TRUE(workers.Spawn({POPQUEUE_DRAIN_WORKER, url, "popqueue", collection, log(),
                               std::to_string(kConcurrency), "250", absl::StrJoin(queues, ",")}));
    ASSERT_TRUE(workers.Start(absl::Seconds(60)));
  }

  // Handler runs so far, per job index.
  std::vector<int> Runs() const {
    std::vector<int> runs(n, 0);
    std::ifstream in(log());
    std::string line;
    int index = -1;
    long pid = 0;
    while (std::getline(in, line)) {
      if (std::sscanf(line.c_str(), "%d %ld", &index, &pid) == 2 && index >= 0 && index < n) {
        ++runs[index];
      }
    }
    return runs;
  }

  // Until every job ran at least once and the store counts n completed
  // (or `deadline`); returns the store's counts.
  std::map<JobState, int64_t> AwaitDone(store::Store& db, absl::Duration deadline) {
    const absl::Time end = absl::Now() + deadline;
    std::map<JobState, int64_t> counts;
    while (absl::Now() < end && workers.Alive()) {
      absl::SleepFor(absl::Milliseconds(250));
      if (CountLines(log()) < n) continue;
      std::vector<int> runs = Runs();
      if (std::count(runs.begin(), runs.end(), 0) > 0) continue;
      counts.clear();
      auto by_queue = db.JobCountByState();
      if (!by_queue.ok()) continue;  // e.g. during a failover
      for (const QueueCounts& q : *by_queue) {
        for (const auto& [state, c] : q.by_state) counts[state] += c;
      }
      if (counts[JobState::kCompleted] == n) break;
    }
    return counts;
  }

  void AwaitRuns(int64_t lines) {
    const absl::Time end = absl::Now() + absl::Minutes(2);
    while (CountLines(log()) < lines && absl::Now() < end && workers.Alive()) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
};

class DrainClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Start()) << "could not start a Redis Cluster of the test's "
                                     "own (needs redis-server and redis-cli)";
    std::printf("cluster: %s\n", cluster_.url().c_str());
  }
  OwnCluster cluster_;
};

TEST_F(DrainClusterTest, SlotMigrationDuringDrain) {
  Drain d;
  d.n = 30000;
  d.url = cluster_.url();
  d.collection = absl::StrCat("migrate_", RandomToken() & 0xffffff);
  ClusterView view = ClusterView::Load(d.url);
  ASSERT_EQ(view.masters.size(), 3u);
  d.queues = SpreadQueues(view, d.collection);
  ASSERT_EQ(d.queues.size(), static_cast<size_t>(kQueues));
  const int slot = SlotOf(d.collection, d.queues[0]);
  const size_t from = view.OwnerOf(slot);
  const size_t to = (from + 1) % 3;
  d.Start();
  if (HasFatalFailure()) return;
  d.AwaitRuns(d.n / 10);

  auto queue0_runs = [&] {
    std::vector<int> runs = d.Runs();
    int done = 0;
    for (int i = 0; i < d.n; i += kQueues) done += runs[i] > 0 ? 1 : 0;
    return done;
  };
  const int before = queue0_runs();
  const absl::Time t0 = absl::Now();
  absl::Status moved = view.MigrateSlot(slot, from, to, absl::Milliseconds(300), 10);
  const absl::Duration took = absl::Now() - t0;
  const int after = queue0_runs();
  ASSERT_TRUE(moved.ok()) << moved;
  std::printf(
      "slot %d of queue %s moved %s -> %s in %s; the queue's jobs run: %d before, "
      "%d after (of %d)\n",
      slot, d.queues[0].c_str(), view.masters[from].Endpoint().c_str(),
      view.masters[to].Endpoint().c_str(), absl::FormatDuration(took).c_str(), before, after,
      d.n / kQueues);
  EXPECT_LT(before, d.n / kQueues) << "the queue was drained before its slot moved";

  auto db = store::OpenStore({.url = d.url, .collection = d.collection});
  ASSERT_TRUE(db.ok()) << db.status();
  const absl::Time drain0 = absl::Now();
  std::map<JobState, int64_t> counts = d.AwaitDone(**db, absl::Minutes(6));
  std::printf("drain finished %.1f s after the migration\n",
              absl::ToDoubleSeconds(absl::Now() - drain0));
  ASSERT_TRUE(d.workers.Alive()) << "a worker process exited";
  d.workers.Terminate();
  EXPECT_EQ(counts[JobState::kCompleted], d.n);
  for (const auto& [state, c] : counts) {
    if (state != JobState::kCompleted) EXPECT_EQ(c, 0) << JobStateName(state);
  }
  std::vector<int> runs = d.Runs();
  int not_once = 0;
  for (int i = 0; i < d.n; ++i) {
    if (runs[i] != 1 && ++not_once <= 5) {
      ADD_FAILURE() << "job " << i << " ran " << runs[i] << " times";
    }
  }
  EXPECT_EQ(not_once, 0);
  ClusterView now = ClusterView::Load(d.url);
  EXPECT_EQ(now.masters[now.OwnerOf(slot)], view.masters[to]);
}

TEST_F(DrainClusterTest, MasterKilledDuringDrainWithWait1) {
  Drain d;
  d.n = 20000;
  d.url = absl::StrCat(cluster_.url(), "&wait=1");
  d.collection = absl::StrCat("failover_", RandomToken() & 0xffffff);
  ClusterView view = ClusterView::Load(cluster_.url());
  ASSERT_EQ(view.masters.size(), 3u);
  d.queues = SpreadQueues(view, d.collection);
  ASSERT_EQ(d.queues.size(), static_cast<size_t>(kQueues));
  const int victim = view.OwnerOf(SlotOf(d.collection, d.queues[0]));
  const redis::NodeAddress victim_node = view.masters[victim];
  std::set<std::string> victim_queues;
  for (const std::string& q : d.queues) {
    if (view.OwnerOf(SlotOf(d.collection, q)) == victim) victim_queues.insert(q);
  }
  d.Start();
  if (HasFatalFailure()) return;
  d.AwaitRuns(d.n / 5);

  ASSERT_EQ(cluster_.Script("kill.sh", absl::StrCat(victim_node.port)), 0);
  const absl::Time killed = absl::Now();
  const int64_t at_kill = CountLines(d.log());
  // Until another node names a new master for the victim's slot.
  const redis::NodeAddress other = view.masters[(victim + 1) % 3];
  absl::Duration promoted = absl::InfiniteDuration();
  while (absl::Now() - killed < absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(100));
    auto node = testing::ClientOf(absl::StrCat("redis://", other.Endpoint()));
    if (node == nullptr) continue;
    auto slots = node->Command({"CLUSTER", "SLOTS"});
    if (!slots.ok()) continue;
    auto map = redis::ParseClusterSlots(*slots, other);
    if (!map.ok()) continue;
    const int owner = map->owner[SlotOf(d.collection, d.queues[0])];
    if (owner >= 0 && !(map->masters[owner] == victim_node)) {
      promoted = absl::Now() - killed;
      break;
    }
  }
  ASSERT_NE(promoted, absl::InfiniteDuration()) << "no replica took over within 60 s";
  // Started again, the killed node rejoins as the new master's replica.
  ASSERT_EQ(cluster_.Script("start.sh", absl::StrCat(victim_node.port)), 0);
  ASSERT_EQ(cluster_.Script("wait.sh", "90"), 0);
  const absl::Duration whole = absl::Now() - killed;
  const int64_t at_whole = CountLines(d.log());

  auto db = store::OpenStore({.url = d.url, .collection = d.collection});
  ASSERT_TRUE(db.ok()) << db.status();
  std::map<JobState, int64_t> counts = d.AwaitDone(**db, absl::Minutes(6));
  const absl::Duration done = absl::Now() - killed;
  ASSERT_TRUE(d.workers.Alive()) << "a worker process exited";
  d.workers.Terminate();

  std::vector<int> runs = d.Runs();
  int lost = 0, twice = 0, twice_elsewhere = 0;
  for (int i = 0; i < d.n; ++i) {
    if (runs[i] == 0) ++lost;
    if (runs[i] > 1) {
      ++twice;
      if (!victim_queues.contains(d.queues[i % kQueues]) && ++twice_elsewhere <= 5) {
        ADD_FAILURE() << "job " << i << " of queue " << d.queues[i % kQueues]
                      << " (not on the killed master) ran " << runs[i] << " times";
      }
    }
  }
  std::printf(
      "killed master %s (queues %s) after %lld handler runs; replica promoted "
      "after %s; cluster whole again (old master a replica) after %s (%lld runs); "
      "drain done after %s: %d jobs ran twice (all on the killed master's queues: "
      "%s), %d never ran\n",
      victim_node.Endpoint().c_str(), absl::StrJoin(victim_queues, ",").c_str(),
      static_cast<long long>(at_kill), absl::FormatDuration(promoted).c_str(),
      absl::FormatDuration(whole).c_str(), static_cast<long long>(at_whole),
      absl::FormatDuration(done).c_str(), twice, twice_elsewhere == 0 ? "yes" : "no", lost);
  RecordProperty("promoted_ms", absl::StrCat(absl::ToInt64Milliseconds(promoted)));
  RecordProperty("duplicates", twice);
  EXPECT_EQ(lost, 0) << "acknowledged jobs lost";
  EXPECT_EQ(twice_elsewhere, 0);
  EXPECT_EQ(counts[JobState::kCompleted], d.n);
  for (const auto& [state, c] : counts) {
    if (state != JobState::kCompleted) EXPECT_EQ(c, 0) << JobStateName(state);
  }
}

}  // namespace
}  // namespace popqueue
