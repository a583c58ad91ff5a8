// Redis Cluster readiness: every key a store script touches hashes to the
// one cluster slot of the store's tag "{<collection>}". Checked two ways
// against a real server while a workload runs every script: the keys left
// under the tag, and every command the scripts ran (seen through MONITOR,
// keys extracted by COMMAND GETKEYS). CRC16 is the client's own
// (common/redis/slot_map.h), pinned here to the cluster specification's
// values (CLUSTER KEYSLOT needs cluster mode).
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/mutex.h"
#include "common/redis/slot_map.h"
#include "gtest/gtest.h"
#include "redis_test_env.h"
#include "store/redis/redis_store.h"

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

// Runs every store call (so every script) once or more.
void Workload(store::Store& s) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 6; ++i) {
    jobs.push_back({.id = i, .queue = i % 2 ? "qa" : "qb", .name = "n",
                    .identifier = i == 1 ? "ident" : "", .max_attempts = 2,
                    .run_at = i == 6 ? t0 + absl::Hours(1) : t0});
  }
  ASSERT_TRUE(s.JobInsertMany({.jobs = jobs, .now = t0}).ok());
  auto claimed = s.JobClaim({.queues = {"qa", "qb"}, .worker_id = "w",
                             .limit = 4, .now = t0, .lease = absl::Seconds(5),
                             .lease_token = 9});
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 4u);
  ASSERT_TRUE(s.JobCompleteMany({.items = {{.id = 1, .lease_token = 9}}, .now = t0}).ok());
  ASSERT_TRUE(s.JobFailMany({.items = {{.id = 2, .lease_token = 9,
                                         .to = JobState::kDead, .error = "x"}},
                             .now = t0}).ok());
  ASSERT_TRUE(s.JobHeartbeatMany({.items = {{.id = 3, .lease_token = 9}},
                                  .now = t0, .lease = absl::Seconds(5)}).ok());
  ASSERT_TRUE(s.JobRescueExpired({.now = t0 + absl::Minutes(1)}).ok());
  ASSERT_TRUE(s.JobRequeue({.id = 2, .now = t0}).ok());
  ASSERT_TRUE(s.JobCancel({.id = 5, .now = t0}).ok());
  ASSERT_TRUE(s.JobDelete({.id = 5}).ok());
  ASSERT_TRUE(s.JobGet({.id = 1}).ok());
  ASSERT_TRUE(s.JobList({.filter = {.name = "n"}}).ok());
  ASSERT_TRUE(s.JobCountByState().ok());
  ASSERT_TRUE(s.JobDeleteFinishedBefore({.before = t0 + absl::Hours(1)}).ok());
  ASSERT_TRUE(s.QueuePause({.queue = "qa", .now = t0}).ok());
  ASSERT_TRUE(s.QueueResume({.queue = "qa", .now = t0}).ok());
  ASSERT_TRUE(s.QueueList().ok());
  ASSERT_TRUE(s.LeaderAttemptElect({.name = "m", .leader_id = "w", .now = t0,
                                    .ttl = absl::Seconds(5)}).ok());
  ASSERT_TRUE(s.LeaderResign({.name = "m", .leader_id = "w"}).ok());
  ASSERT_TRUE(s.WorkerRegister({.worker = {.id = "w"}, .now = t0}).ok());
  ASSERT_TRUE(s.WorkerHeartbeat({.worker_id = "w", .now = t0}).ok());
  ASSERT_TRUE(s.WorkerList({.now = t0, .ttl = absl::Seconds(5)}).ok());
  ASSERT_TRUE(s.WorkerDeregister({.worker_id = "w"}).ok());
  ASSERT_TRUE(s.CronFireOnce({.schedule = "c", .fire_time = t0,
                              .job = {.id = 100, .queue = "qc", .name = "n",
                                      .max_attempts = 1, .run_at = t0},
                              .now = t0}).ok());
}

TEST(RedisSlotTest, EveryScriptKeySharesTheStoreSlot) {
  POPQUEUE_REQUIRE_REDIS();
  const std::string collection = UniqueCollection("slot");
  auto url = ParseUrl(RedisUrl());
  ASSERT_TRUE(url.ok());
  auto opened = store::redis_store::RedisStore::Open(
      *url, {.url = RedisUrl(), .collection = collection});
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<store::redis_store::RedisStore> s = *opened;
  const int slot = KeySlot(s->tag());

  // Watch every command the server runs while the workload runs.
  auto options = redis::Options::FromUrl(*url);
  ASSERT_TRUE(options.ok());
  auto monitor = redis::Connection::Open(*options);
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  ASSERT_TRUE((*monitor)->Send({"MONITOR"}).ok());
  auto ok = (*monitor)->ReadReply(absl::Seconds(5));
  ASSERT_TRUE(ok.ok() && ok->has_value()) << ok.status();

  Workload(*s);
  // A marker that ends what we read.
  const std::string marker = absl::StrCat(collection, "-done");
  ASSERT_TRUE(s->client().Command({"ECHO", marker}).ok());

  std::vector<std::vector<std::string>> script_commands;
  std::set<std::string> scripts_seen;  // SHA1s
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    auto line = (*monitor)->ReadReply(absl::Seconds(1));
    ASSERT_TRUE(line.ok()) << line.status();
    if (!line->has_value()) continue;
    const std::string& text = (*line)->str;
    if (absl::StrContains(text, marker)) break;
    if (!absl::StrContains(text, collection)) continue;
    std::vector<std::string> args = MonitorArgs(text);
    if (args.empty()) continue;
    if (absl::StrContains(text, " lua] ")) {
      script_commands.push_back(std::move(args));
    } else if (absl::EqualsIgnoreCase(args[0], "evalsha")) {
      scripts_seen.insert(args[1]);
      ASSERT_GE(args.size(), 4u);
      // Declared KEYS are in the slot too.
      int nkeys = std::stoi(args[2]);
      for (int i = 0; i < nkeys; ++i) {
        EXPECT_EQ(KeySlot(args[3 + i]), slot) << args[3 + i];
      }
    }
  }
  EXPECT_EQ(scripts_seen.size(), 18u) << "every script of scripts.h runs once";
  EXPECT_GE(script_commands.size(), 50u);
  std::set<std::string> commands_checked;
  for (const auto& cmd : script_commands) {
    std::vector<std::string> getkeys = {"COMMAND", "GETKEYS"};
    getkeys.insert(getkeys.end(), cmd.begin(), cmd.end());
    auto keys = s->client().Command(getkeys);
    if (!keys.ok()) continue;  // PUBLISH and friends have no keys
    for (const redis::Reply& k : keys->elements) {
      EXPECT_EQ(KeySlot(k.str), slot) << "script command " << cmd[0]
                                      << " touches " << k.str;
    }
    commands_checked.insert(absl::AsciiStrToUpper(cmd[0]));
  }
  EXPECT_TRUE(commands_checked.count("ZADD")) << "MONITOR saw no script commands";

  // Everything the workload left behind is in the slot too.
  std::vector<std::string> keys = KeysOf(s->client(), collection);
  EXPECT_GE(keys.size(), 10u);
  for (const std::string& key : keys) EXPECT_EQ(KeySlot(key), slot) << key;
  DeleteKeys(collection);
}

}  // namespace
}  // namespace popqueue::testing
