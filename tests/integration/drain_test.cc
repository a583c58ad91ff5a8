// Four worker processes (drain_worker.cc) on one database drain N jobs, on
// every backend compiled in: every job's handler runs exactly once (counted
// from the workers' side log), the store counts every job completed and
// nothing else, and each process does a real share of the work (workers
// claim only what their free slots can take, so the load balances itself).
//
// On the Redis Cluster it runs twice: with the jobs on one queue (one slot,
// one master), and spread over six queues whose slots are on the three
// masters, two each (drain_redis_cluster_queues): there every master must
// hold keys of the collection's queues at the end.
//
// N = 50000, except on MongoDB's FerretDB: 50000 against a real MongoDB
// (MONGODB_URL) or with POPQUEUE_TEST_MONGODB_FULL=1, else 2000, which keeps
// the test quick on FerretDB; on mongo-java-server (drain_mongojava) 50000. The test prints which N
// ran and why, the drain time, and each process's share.
//
// Server backends read their URL from POPQUEUE_TEST_<BACKEND>_URL (set by
// scripts/with-services and scripts/test); without it the test is skipped,
// or fails when CI=true. SQLite uses a temp file shared by the processes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "store/registry.h"
#include "store/store.h"
#include "tests/integration/worker_group.h"
#include "tests/support/test_util.h"
#ifdef POPQUEUE_DRAIN_REDIS
#include "common/redis/redis_client.h"
#include "common/redis/slot_map.h"
#include "store/redis/keys.h"
#endif

namespace popqueue {
namespace {

constexpr int kConcurrency = 32;  // slots per worker process
constexpr int kFullJobs = 50000;
constexpr int kQuickJobs = 2000;    // MongoDB on FerretDB
constexpr double kMinShare = 0.05;  // of N, for every process

struct DrainBackend {
  std::string name;     // test-name suffix
  std::string url_env;  // "" for SQLite (a temp file)
  std::string db_name;  // database (PostgreSQL without a URL path, MongoDB)
  int queues = 1;       // jobs spread round robin over this many queues
};

std::ostream& operator<<(std::ostream& os, const DrainBackend& b) { return os << b.name; }

std::vector<DrainBackend> CompiledBackends() {
  std::vector<DrainBackend> out = {{"sqlite", "", "popqueue"}};
#ifdef POPQUEUE_DRAIN_POSTGRES
  out.push_back({"postgres", "POPQUEUE_TEST_POSTGRES_URL", "postgres"});
#endif
#ifdef POPQUEUE_DRAIN_REDIS
  out.push_back({"redis", "POPQUEUE_TEST_REDIS_URL", "popqueue"});
  // One queue = one slot: the drain runs on one master of the cluster...
  out.push_back({"redis_cluster", "POPQUEUE_TEST_REDIS_CLUSTER_URL", "popqueue"});
  // ... and six queues of one collection on the three masters.
  out.push_back({"redis_cluster_queues", "POPQUEUE_TEST_REDIS_CLUSTER_URL", "popqueue", 6});
#endif
#ifdef POPQUEUE_DRAIN_MONGODB
  out.push_back({"mongodb", "POPQUEUE_TEST_MONGODB_URL", "popqueue_test"});
  // mongo-java-server, the second MongoDB-wire test server.
  out.push_back({"mongojava", "POPQUEUE_TEST_MONGOJAVA_URL", "popqueue_test"});
#endif
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

struct Plan {
  int jobs;
  std::string why;
  absl::Duration deadline;  // for the drain, from the start signal
};

Plan PlanFor(const std::string& backend) {
  if (backend == "mongojava") {
    return {kFullJobs, "mongo-java-server serves the full N", absl::Minutes(12)};
  }
  if (backend != "mongodb") {
    return {kFullJobs, "the N of the PostgreSQL issue", absl::Minutes(8)};
  }
  if (!Env("MONGODB_URL").empty()) {
    return {kFullJobs, "a real MongoDB (MONGODB_URL)", absl::Minutes(60)};
  }
  if (Env("POPQUEUE_TEST_MONGODB_FULL") == "1") {
    return {kFullJobs, "POPQUEUE_TEST_MONGODB_FULL=1", absl::Minutes(60)};
  }
  return {kQuickJobs, "FerretDB; POPQUEUE_TEST_MONGODB_FULL=1 runs 50000", absl::Minutes(5)};
}

std::map<JobState, int64_t> Counts(store::Store& db) {
  std::map<JobState, int64_t> counts;
  auto by_queue = db.JobCountByState();
  EXPECT_TRUE(by_queue.ok()) << by_queue.status();
  if (!by_queue.ok()) return counts;
  for (const QueueCounts& q : *by_queue) {
    for (const auto& [state, c] : q.by_state) counts[state] += c;
  }
  return counts;
}

#ifdef POPQUEUE_DRAIN_REDIS
// The cluster's slot map, from CLUSTER SLOTS.
absl::StatusOr<redis::SlotMap> ClusterMap(const std::string& url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<std::shared_ptr<redis::Client>> client = redis::Client::Connect(*parsed);
  if (!client.ok()) return client.status();
  absl::StatusOr<redis::Reply> slots = (*client)->Command({"CLUSTER", "SLOTS"});
  if (!slots.ok()) return slots.status();
  return redis::ParseClusterSlots(*slots, (*client)->options().seeds[0]);
}

// `n` queue names of `collection` whose slots are spread evenly over the
// cluster's masters.
absl::StatusOr<std::vector<std::string>> SpreadQueues(const std::string& url,
                                                      const std::string& collection, int n) {
  absl::StatusOr<redis::SlotMap> map = ClusterMap(url);
  if (!map.ok()) return map.status();
  const size_t masters = map->masters.size();
  if (masters == 0) return absl::FailedPreconditionError("the cluster has no master");
  std::map<int, int> per_master;
  std::vector<std::string> out;
  for (int i = 0; static_cast<int>(out.size()) < n && i < 10000; ++i) {
    const std::string q = absl::StrCat("q", i);
    const int owner = map->owner[redis::KeySlot(store::redis_store::QueueTag(collection, q))];
    if (owner < 0 ||
        per_master[owner] >= (n + static_cast<int>(masters) - 1) / static_cast<int>(masters)) {
      continue;
    }
    ++per_master[owner];
    out.push_back(q);
  }
  if (static_cast<int>(out.size()) < n) {
    return absl::InternalError("no spread of queue names found");
  }
  return out;
}

// Per master of the cluster: how many keys of `queues` it holds.
std::vector<std::pair<std::string, int64_t>> KeysPerMaster(const std::string& url,
                                                           const std::string& collection,
                                                           const std::vector<std::string>& queues) {
  std::vector<std::pair<std::string, int64_t>> out;
  absl::StatusOr<redis::SlotMap> map = ClusterMap(url);
  EXPECT_TRUE(map.ok()) << map.status();
  if (!map.ok()) return out;
  for (size_t m = 0; m < map->masters.size(); ++m) {
    auto node =
        redis::Client::Connect(*ParseUrl(absl::StrCat("redis://", map->masters[m].Endpoint())));
    EXPECT_TRUE(node.ok()) << node.status();
    if (!node.ok()) continue;
    int64_t keys = 0;
    for (const std::string& q : queues) {
      const int slot = redis::KeySlot(store::redis_store::QueueTag(collection, q));
      if (map->owner[slot] != static_cast<int>(m)) continue;
      auto n = (*node)->Command({"CLUSTER", "COUNTKEYSINSLOT", absl::StrCat(slot)});
      EXPECT_TRUE(n.ok()) << n.status();
      if (n.ok()) keys += n->integer;
    }
    out.emplace_back(map->masters[m].Endpoint(), keys);
  }
  return out;
}
#endif

class DrainTest : public ::testing::TestWithParam<DrainBackend> {};

TEST_P(DrainTest, FourProcessesCompleteEachJobOnceAndShareTheWork) {
  const DrainBackend& backend = GetParam();
  testing::TempDir tmp;
  std::string url;
  if (backend.url_env.empty()) {
    url = tmp.SqliteUrl("drain.db");
  } else {
    url = Env(backend.url_env.c_str());
    if (url.empty()) {
      if (Env("CI") == "true") {
        GTEST_FAIL() << backend.url_env
                     << " is not set (CI=true): run the tests through "
                        "scripts/test or scripts/with-services";
      }
      GTEST_SKIP() << backend.url_env
                   << " is not set: run the tests through scripts/test or "
                      "scripts/with-services, which start the server";
    }
  }
  const Plan plan = PlanFor(backend.name);
  const int n = plan.jobs;
  std::printf(
      "[%s] draining %d jobs with %d worker processes of %d slots: "
      "%s\n",
      backend.name.c_str(), n, kWorkers, kConcurrency, plan.why.c_str());
  RecordProperty("jobs", n);

  const std::string collection = absl::StrCat("drain_", getpid(), "_", RandomToken() & 0xffffff);
  std::vector<std::string> queues = {std::string(kDefaultQueue)};
  if (backend.queues > 1) {
#ifdef POPQUEUE_DRAIN_REDIS
    auto spread = SpreadQueues(url, collection, backend.queues);
    ASSERT_TRUE(spread.ok()) << spread.status();
    queues = *spread;
#else
    GTEST_FAIL() << "several queues are only planned on the Redis Cluster";
#endif
  }
  std::string queue_list;
  for (const std::string& q : queues) {
    queue_list += (queue_list.empty() ? "" : ",") + q;
  }
  if (queues.size() > 1) {
    std::printf("[%s] queues %s\n", backend.name.c_str(), queue_list.c_str());
  }
  {
    QueueConfig config{
        .db_url = url, .db_name = backend.db_name, .collection = collection, .retries = 0};
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
    std::printf("[%s] enqueued %d jobs in %.1f s\n", backend.name.c_str(), n,
                absl::ToDoubleSeconds(absl::Now() - t0));
  }
  auto opened =
      store::OpenStore({.url = url, .db_name = backend.db_name, .collection = collection});
  ASSERT_TRUE(opened.ok()) << opened.status();
  store::Store& db = **opened;

  const std::string log = tmp.path() + "/drain.log";
  WorkerGroup workers;
  // Each process may hold up to max_prefetch jobs claimed ahead (default
  // 1000): on a slow store three processes would hold a 2000-job drain
  // between them before the fourth's first claim. Bounded to a sixteenth of
  // the jobs per process, every process gets a share of even a small drain.
  const int max_prefetch = std::min(WorkerOptions{}.max_prefetch, n / (4 * kWorkers));
  std::vector<std::string> worker_args = {POPQUEUE_DRAIN_WORKER,
                                          url,
                                          backend.db_name,
                                          collection,
                                          log,
                                          std::to_string(kConcurrency),
                                          std::to_string(max_prefetch)};
  if (queues.size() > 1) worker_args.push_back(queue_list);
  ASSERT_TRUE(workers.Spawn(worker_args));
  ASSERT_TRUE(workers.Start(absl::Seconds(60)))
      << "the workers did not all open the store within 60 s";
  const absl::Time start = absl::Now();

  // Until the handlers ran n times (the side log; cheap to watch) and the
  // store counts every job completed, or a worker dies.
  std::map<JobState, int64_t> counts;
  bool alive = true;
  while (absl::Now() < start + plan.deadline && (alive = workers.Alive())) {
    absl::SleepFor(absl::Milliseconds(200));
    if (CountLines(log) < n) continue;
    // Every handler ran: the counts settle once the completers flushed.
    counts = Counts(db);
    if (counts[JobState::kCompleted] == n) break;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  workers.Terminate();
  const int64_t completed = counts[JobState::kCompleted];
  std::printf("[%s] drained %lld/%d jobs in %.1f s = %.0f jobs/s\n", backend.name.c_str(),
              static_cast<long long>(completed), n, seconds, completed / seconds);
  RecordProperty("drain_seconds", absl::StrCat(seconds));

  ASSERT_TRUE(alive) << "a worker process exited early";
  for (const auto& [state, c] : counts) {
    if (state != JobState::kCompleted) {
      EXPECT_EQ(c, 0) << std::string(JobStateName(state));
    }
  }
  EXPECT_EQ(completed, n);

  // The side log: "<job index> <pid>" per handler run.
  std::vector<int> runs(n, 0);
  std::map<pid_t, int> share;
  for (pid_t pid : workers.pids()) share[pid] = 0;
  std::ifstream in(log);
  int index = -1;
  long pid = 0;
  int bad_lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (std::sscanf(line.c_str(), "%d %ld", &index, &pid) != 2 || index < 0 || index >= n ||
        !share.contains(static_cast<pid_t>(pid))) {
      if (++bad_lines <= 5) ADD_FAILURE() << "bad log line: " << line;
      continue;
    }
    ++runs[index];
    ++share[static_cast<pid_t>(pid)];
  }
  EXPECT_EQ(bad_lines, 0);
  int not_once = 0;
  for (int i = 0; i < n; ++i) {
    if (runs[i] != 1 && ++not_once <= 5) {
      ADD_FAILURE() << "job " << i << " ran " << runs[i] << " times";
    }
  }
  EXPECT_EQ(not_once, 0);
  int w = 0;
  for (const auto& [worker_pid, jobs] : share) {
    std::printf("[%s] worker %d (pid %d) ran %d jobs (%.1f%%)\n", backend.name.c_str(), w++,
                static_cast<int>(worker_pid), jobs, 100.0 * jobs / n);
    // SQLite has one write lock per file: a process whose claims meet it
    // taken sleeps in SQLite's busy handler and may do little of a 2 s
    // drain, so there every process only has to take part.
    const double min_share = backend.name == "sqlite" ? 1.0 / n : kMinShare;
    EXPECT_GE(jobs, min_share * n)
        << "worker pid " << worker_pid << " did less than " << 100 * min_share << "% of the work";
  }

  // Every queue drained, and (six queues on a cluster) every master held
  // some of them.
  if (queues.size() > 1) {
    std::map<std::string, int64_t> completed_of;
    auto by_queue = db.JobCountByState();
    ASSERT_TRUE(by_queue.ok()) << by_queue.status();
    for (const QueueCounts& q : *by_queue) {
      auto it = q.by_state.find(JobState::kCompleted);
      completed_of[q.queue] = it == q.by_state.end() ? 0 : it->second;
    }
    for (const std::string& q : queues) {
      EXPECT_GE(completed_of[q], n / static_cast<int64_t>(queues.size())) << q;
    }
#ifdef POPQUEUE_DRAIN_REDIS
    const auto keys = KeysPerMaster(url, collection, queues);
    EXPECT_EQ(keys.size(), 3u);
    for (const auto& [master, count] : keys) {
      std::printf("[%s] master %s holds %lld keys of the queues\n", backend.name.c_str(),
                  master.c_str(), static_cast<long long>(count));
      EXPECT_GT(count, 0) << "master " << master << " holds none of the queues";
    }
#endif
  }

  // Leave a server as found (its schema aside); keep the jobs when the test
  // failed, to look at them.
  if (!backend.url_env.empty() && !HasFailure()) {
    absl::StatusOr<int> deleted;
    do {
      deleted = db.JobDeleteFinishedBefore({.before = absl::Now() + absl::Hours(1), .limit = 1000});
    } while (deleted.ok() && *deleted > 0);
  } else if (!backend.url_env.empty()) {
    std::printf("[%s] jobs kept in collection %s\n", backend.name.c_str(), collection.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, DrainTest, ::testing::ValuesIn(CompiledBackends()),
                         [](const ::testing::TestParamInfo<DrainBackend>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace popqueue
