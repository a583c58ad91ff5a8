// Redis Cluster readiness of the store's key layout, on the test cluster
// while a workload runs every script: each script call touches the keys of
// one slot only, the slot its KEYS[1] names (every command it ran, seen
// through MONITOR on each master, keys extracted by COMMAND GETKEYS), and
// the queues of one collection land on several masters with all their keys
// in their own slot. Redis 7 lets an old-style EVAL touch several slots of
// one node, so only watching the commands proves it. CRC16 is the client's
// own (common/redis/slot_map.h), pinned here to the cluster
// specification's values.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/mutex.h"
#include "common/redis/slot_map.h"
#include "gtest/gtest.h"
#include "store/redis/keys.h"
#include "store/redis/redis_store_impl.h"
#include "tests/redis/redis_cluster_env.h"

namespace popqueue::testing {
namespace {

using redis::Crc16;
using redis::KeySlot;

TEST(RedisSlotTest, KeySlotMatchesTheClusterSpec) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("{user1000}.followers"));
  EXPECT_EQ(KeySlot("foo{}{bar}"), KeySlot("foo{}{bar}"));
  EXPECT_EQ(KeySlot("{}x"), Crc16("{}x") & 16383);
}

// Parses one MONITOR line: `<ts> [<db> <client>] "arg" "arg" ...`.
std::vector<std::string> MonitorArgs(const std::string& line) {
  std::vector<std::string> args;
  size_t i = line.find("] ");
  if (i == std::string::npos) return args;
  i += 2;
  while (i < line.size()) {
    if (line[i] != '"') {
      ++i;
      continue;
    }
    std::string arg;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        char c = line[++i];
        if (c == 'x' && i + 2 < line.size()) {
          arg.push_back(static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16)));
          i += 2;
        } else {
          arg.push_back(c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c);
        }
      } else {
        arg.push_back(line[i]);
      }
    }
    ++i;
    args.push_back(std::move(arg));
  }
  return args;
}

// Runs every store call (so every script) once or more, on queues qa, qb
// and qc.
void Workload(store::Store& s) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 6; ++i) {
    jobs.push_back({.id = i,
                    .queue = i % 2 ? "qa" : "qb",
                    .name = "n",
                    .identifier = i == 1   ? "ident"
                                  : i == 2 ? "again"
                                           : "",
                    .max_attempts = 2,
                    .run_at = i == 6 ? t0 + absl::Hours(1) : t0});
  }
  ASSERT_TRUE(s.JobInsertMany({.jobs = jobs, .now = t0}).ok());
  auto claimed = s.JobClaim({.queues = {"qa", "qb"},
                             .worker_id = "w",
                             .limit = 4,
                             .now = t0,
                             .lease = absl::Seconds(5),
                             .lease_token = 9});
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 4u);
  ASSERT_TRUE(s.JobCompleteMany({.items = {{.id = 1, .lease_token = 9}}, .now = t0}).ok());
  // A failure and a snooze (job_fail_many.lua and job_snooze_many.lua).
  ASSERT_TRUE(
      s.JobFailMany({.items = {{.id = 2, .lease_token = 9, .to = JobState::kDead, .error = "x"},
                               {.id = 4,
                                .lease_token = 9,
                                .to = JobState::kScheduled,
                                .run_at = t0 + absl::Minutes(5)}},
                     .now = t0})
          .ok());
  ASSERT_TRUE(s.JobHeartbeatMany(
                   {.items = {{.id = 3, .lease_token = 9}}, .now = t0, .lease = absl::Seconds(5)})
                  .ok());
  ASSERT_TRUE(s.JobRescueExpired({.now = t0 + absl::Minutes(1)}).ok());
  // Job 1 (completed) holds a stale reservation of "ident": checked, taken.
  auto dup = s.JobInsertMany({.jobs = {{.id = 7,
                                        .queue = "qc",
                                        .name = "n",
                                        .identifier = "ident",
                                        .max_attempts = 1,
                                        .run_at = t0}},
                              .now = t0});
  ASSERT_TRUE(dup.ok()) << dup.status();
  ASSERT_TRUE((*dup)[0].inserted);
  ASSERT_TRUE(s.JobRequeue({.id = 2, .now = t0}).ok());  // with identifier
  ASSERT_TRUE(s.JobCancel({.id = 5, .now = t0}).ok());
  ASSERT_TRUE(s.JobDelete({.id = 5}).ok());
  ASSERT_TRUE(s.JobGet({.id = 1}).ok());
  ASSERT_TRUE(s.JobList({.filter = {.name = "n"}}).ok());
  ASSERT_TRUE(s.JobCountByState().ok());
  ASSERT_TRUE(s.JobDeleteFinishedBefore({.before = t0 + absl::Hours(1)}).ok());
  ASSERT_TRUE(s.QueuePause({.queue = "qa", .now = t0}).ok());
  ASSERT_TRUE(s.QueueResume({.queue = "qa", .now = t0}).ok());
  ASSERT_TRUE(s.QueueList().ok());
  ASSERT_TRUE(
      s.LeaderAttemptElect({.name = "m", .leader_id = "w", .now = t0, .ttl = absl::Seconds(5)})
          .ok());
  ASSERT_TRUE(s.LeaderResign({.name = "m", .leader_id = "w"}).ok());
  ASSERT_TRUE(s.WorkerRegister({.worker = {.id = "w"}, .now = t0}).ok());
  ASSERT_TRUE(s.WorkerHeartbeat({.worker_id = "w", .now = t0}).ok());
  ASSERT_TRUE(s.WorkerList({.now = t0, .ttl = absl::Seconds(5)}).ok());
  ASSERT_TRUE(s.WorkerDeregister({.worker_id = "w"}).ok());
  ASSERT_TRUE(s.CronFireOnce(
                   {.schedule = "c",
                    .fire_time = t0,
                    .job = {.id = 100, .queue = "qc", .name = "n", .max_attempts = 1, .run_at = t0},
                    .now = t0})
                  .ok());
  // The same fire again: the reservation is forgotten (job_forget.lua).
  ASSERT_TRUE(s.CronFireOnce(
                   {.schedule = "c",
                    .fire_time = t0,
                    .job = {.id = 101, .queue = "qc", .name = "n", .max_attempts = 1, .run_at = t0},
                    .now = t0})
                  .ok());
}

// A collection whose queues qa, qb and qc are on three different masters.
std::string SpreadCollection(const ClusterView& view) {
  for (int i = 0;; ++i) {
    std::string name = absl::StrCat(UniqueCollection("slot"), "_", i);
    std::set<int> owners;
    for (const char* q : {"qa", "qb", "qc"}) {
      owners.insert(view.OwnerOf(KeySlot(store::redis_store::QueueTag(name, q))));
    }
    if (owners.size() == 3) return name;
  }
}

TEST(RedisSlotTest, EveryScriptCallStaysInOneSlotAndQueuesSpread) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  ClusterView view = ClusterView::Load();
  ASSERT_EQ(view.masters.size(), 3u);
  const std::string collection = SpreadCollection(view);
  ScopedKeys cleanup(collection);
  auto opened = store::redis_store::RedisStore::Open(
      *ParseUrl(RedisClusterUrl()), {.url = RedisClusterUrl(), .collection = collection});
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<store::redis_store::RedisStore> s = *opened;

  // Watch every command each master runs while the workload runs.
  std::vector<std::unique_ptr<redis::Connection>> monitors;
  for (const redis::NodeAddress& m : view.masters) {
    redis::Options options = view.cluster->options();
    options.cluster = false;
    options.host = m.host;
    options.port = m.port;
    auto monitor = redis::Connection::Open(options);
    ASSERT_TRUE(monitor.ok()) << monitor.status();
    ASSERT_TRUE((*monitor)->Send({"MONITOR"}).ok());
    auto ok = (*monitor)->ReadReply(absl::Seconds(5));
    ASSERT_TRUE(ok.ok() && ok->has_value()) << ok.status();
    monitors.push_back(*std::move(monitor));
  }
  Workload(*s);
  // A marker on every master ends what we read.
  const std::string marker = absl::StrCat(collection, "-done");
  ASSERT_TRUE(view.cluster->CommandOnEveryMaster({"ECHO", marker}).ok());

  // One script call: the slot of its KEYS[1] and the commands it ran.
  struct Call {
    std::string sha;
    int slot;
    size_t master;
    std::vector<std::vector<std::string>> commands;
  };
  std::vector<Call> calls;
  for (size_t m = 0; m < monitors.size(); ++m) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    bool done = false;
    Call* open = nullptr;
    while (!done && absl::Now() < deadline) {
      auto line = monitors[m]->ReadReply(absl::Seconds(1));
      ASSERT_TRUE(line.ok()) << line.status();
      if (!line->has_value()) continue;
      const std::string& text = (*line)->str;
      if (absl::StrContains(text, marker)) done = true;
      std::vector<std::string> args = MonitorArgs(text);
      if (args.empty()) continue;
      if (absl::StrContains(text, " lua] ")) {  // runs inside the call before
        if (open != nullptr) open->commands.push_back(std::move(args));
        continue;
      }
      open = nullptr;
      if (absl::EqualsIgnoreCase(args[0], "evalsha") && args.size() >= 4 &&
          absl::StrContains(text, collection)) {
        calls.push_back({args[1], KeySlot(args[3]), m, {}});
        open = &calls.back();
      }
    }
    ASSERT_TRUE(done) << "no marker from master " << m;
  }
  std::set<std::string> shas;
  size_t commands_checked = 0;
  for (const Call& call : calls) {
    shas.insert(call.sha);
    EXPECT_EQ(view.OwnerOf(call.slot), static_cast<int>(call.master));
    for (const auto& cmd : call.commands) {
      std::vector<std::string> getkeys = {"COMMAND", "GETKEYS"};
      getkeys.insert(getkeys.end(), cmd.begin(), cmd.end());
      auto keys = view.cluster->Command(getkeys);
      if (!keys.ok()) continue;  // PUBLISH and friends have no keys
      ++commands_checked;
      for (const redis::Reply& k : keys->elements) {
        EXPECT_EQ(KeySlot(k.str), call.slot) << "script " << call.sha << " (slot " << call.slot
                                             << ") ran " << cmd[0] << " on " << k.str;
      }
    }
  }
  EXPECT_EQ(shas.size(), 24u) << "every script of scripts.h runs at least once";
  EXPECT_GE(commands_checked, 80u);

  // Each queue's keys are in its own slot, on its own master; the
  // collection's in the collection slot.
  const std::vector<std::string> keys = KeysOf(*view.cluster, collection);
  std::map<int, int> keys_per_slot;
  for (const std::string& key : keys) ++keys_per_slot[KeySlot(key)];
  std::set<int> masters_used;
  for (const char* q : {"qa", "qb", "qc"}) {
    const std::string tag = s->QueueTag(q);
    const int slot = KeySlot(tag);
    EXPECT_GT(keys_per_slot[slot], 3) << q;
    EXPECT_GT(view.CountKeysInSlot(view.OwnerOf(slot), slot), 3) << q;
    masters_used.insert(view.OwnerOf(slot));
  }
  EXPECT_EQ(masters_used.size(), 3u);
  EXPECT_GT(keys_per_slot[KeySlot(s->tag())], 3);
  for (const std::string& key : keys) {
    const bool collection_key = absl::StartsWith(key, s->tag() + ":");
    bool queue_key = false;
    for (const char* q : {"qa", "qb", "qc"}) {
      queue_key = queue_key || absl::StartsWith(key, s->QueueTag(q) + ":");
    }
    EXPECT_TRUE(collection_key || queue_key) << key;
  }
}

}  // namespace
}  // namespace popqueue::testing
