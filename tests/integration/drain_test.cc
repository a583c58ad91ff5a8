// Four worker processes (drain_worker.cc) on one database drain N jobs, on
// every backend compiled in: every job's handler runs exactly once (counted
// from the workers' side log), the store counts every job completed and
// nothing else, and each process does a real share of the work (workers
// claim only what their free slots can take, so the load balances itself).
//
// N = 50000, except on MongoDB: 50000 against a real MongoDB (MONGODB_URL)
// or with POPQUEUE_TEST_MONGODB_FULL=1, else 2000, which keeps the test
// quick on FerretDB, the default test server. The test prints which N ran
// and why, the drain time, and each process's share.
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
#include "tests/integration/test_util.h"

namespace popqueue {
namespace {

constexpr int kWorkers = 4;
constexpr int kConcurrency = 32;  // slots per worker process
constexpr int kFullJobs = 50000;
constexpr int kQuickJobs = 2000;    // MongoDB on FerretDB
constexpr double kMinShare = 0.05;  // of N, for every process

struct DrainBackend {
  std::string name;     // test-name suffix
  std::string url_env;  // "" for SQLite (a temp file)
  std::string db_name;  // database (PostgreSQL without a URL path, MongoDB)
};

std::ostream& operator<<(std::ostream& os, const DrainBackend& b) {
  return os << b.name;
}

std::vector<DrainBackend> CompiledBackends() {
  std::vector<DrainBackend> out = {{"sqlite", "", "popqueue"}};
#ifdef POPQUEUE_DRAIN_POSTGRES
  out.push_back({"postgres", "POPQUEUE_TEST_POSTGRES_URL", "postgres"});
#endif
#ifdef POPQUEUE_DRAIN_REDIS
  out.push_back({"redis", "POPQUEUE_TEST_REDIS_URL", "popqueue"});
  // One collection = one slot: the drain runs on one master of the cluster.
  out.push_back({"redis_cluster", "POPQUEUE_TEST_REDIS_CLUSTER_URL", "popqueue"});
#endif
#ifdef POPQUEUE_DRAIN_MONGODB
  out.push_back({"mongodb", "POPQUEUE_TEST_MONGODB_URL", "popqueue_test"});
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
  if (backend != "mongodb") {
    return {kFullJobs, "the N of the PostgreSQL issue", absl::Minutes(8)};
  }
  if (!Env("MONGODB_URL").empty()) {
    return {kFullJobs, "a real MongoDB (MONGODB_URL)", absl::Minutes(60)};
  }
  if (Env("POPQUEUE_TEST_MONGODB_FULL") == "1") {
    return {kFullJobs, "POPQUEUE_TEST_MONGODB_FULL=1", absl::Minutes(60)};
  }
  return {kQuickJobs, "FerretDB; POPQUEUE_TEST_MONGODB_FULL=1 runs 50000",
          absl::Minutes(5)};
}

// Four worker processes and the pipes of their start barrier.
class WorkerGroup {
 public:
  ~WorkerGroup() {
    Terminate();
    if (ready_ >= 0) close(ready_);
    if (go_ >= 0) close(go_);
  }

  // Forks `kWorkers` processes running `args`; false on failure.
  bool Spawn(const std::vector<std::string>& args) {
    int go[2], ready[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0) return false;
    go_ = go[1];
    ready_ = ready[0];
    for (int w = 0; w < kWorkers; ++w) {
      const pid_t pid = fork();
      if (pid < 0) return false;
      if (pid == 0) {
        // dup2 clears close-on-exec on the copies only.
        if (dup2(go[0], STDIN_FILENO) < 0 ||
            dup2(ready[1], STDOUT_FILENO) < 0) {
          _exit(127);
        }
        std::vector<char*> argv;
        for (const std::string& a : args) {
          argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
      }
      pids_.push_back(pid);
    }
    close(go[0]);
    close(ready[1]);
    return true;
  }

  // Waits until every worker opened its store, then lets them all start.
  bool Start(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    int ready = 0;
    while (ready < kWorkers) {
      const int ms = static_cast<int>(
          absl::ToInt64Milliseconds(deadline - absl::Now()));
      pollfd p{.fd = ready_, .events = POLLIN, .revents = 0};
      if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
      char buf[kWorkers];
      const ssize_t n = read(ready_, buf, sizeof(buf));
      if (n <= 0) return false;  // a worker died before it was ready
      ready += static_cast<int>(n);
    }
    close(go_);  // end-of-file on every worker's stdin: go
    go_ = -1;
    return true;
  }

  // True while no worker has exited.
  bool Alive() {
    for (pid_t pid : pids_) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited_.push_back(pid);
        return false;
      }
    }
    return exited_.empty();
  }

  // SIGTERM (graceful drain) and reap.
  void Terminate() {
    for (pid_t pid : pids_) {
      if (std::find(exited_.begin(), exited_.end(), pid) == exited_.end()) {
        kill(pid, SIGTERM);
      }
    }
    for (pid_t pid : pids_) {
      int status = 0;
      if (std::find(exited_.begin(), exited_.end(), pid) == exited_.end()) {
        waitpid(pid, &status, 0);
      }
    }
    exited_ = pids_;
  }

  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  std::vector<pid_t> pids_;
  std::vector<pid_t> exited_;
  int go_ = -1;     // write end: closed = start
  int ready_ = -1;  // read end: one byte per ready worker
};

int64_t CountLines(const std::string& path) {
  std::ifstream in(path);
  return std::count(std::istreambuf_iterator<char>(in),
                    std::istreambuf_iterator<char>(), '\n');
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
  std::printf("[%s] draining %d jobs with %d worker processes of %d slots: "
              "%s\n",
              backend.name.c_str(), n, kWorkers, kConcurrency,
              plan.why.c_str());
  RecordProperty("jobs", n);

  const std::string collection =
      absl::StrCat("drain_", getpid(), "_", RandomToken() & 0xffffff);
  {
    QueueConfig config{.db_url = url,
                       .db_name = backend.db_name,
                       .collection = collection,
                       .retries = 0};
    config.worker.handle_signals = false;
    Queue producer(config);
    ASSERT_TRUE(producer.status().ok()) << producer.status();
    const absl::Time t0 = absl::Now();
    for (int done = 0; done < n; done += 1000) {
      std::vector<EnqueueRequest> batch;
      for (int i = done; i < std::min(n, done + 1000); ++i) {
        batch.push_back({.name = "drain", .data = std::to_string(i)});
      }
      auto enqueued = producer.EnqueueMany(std::move(batch));
      ASSERT_TRUE(enqueued.ok()) << enqueued.status();
    }
    std::printf("[%s] enqueued %d jobs in %.1f s\n", backend.name.c_str(), n,
                absl::ToDoubleSeconds(absl::Now() - t0));
  }
  auto opened = store::OpenStore(
      {.url = url, .db_name = backend.db_name, .collection = collection});
  ASSERT_TRUE(opened.ok()) << opened.status();
  store::Store& db = **opened;

  const std::string log = tmp.path() + "/drain.log";
  WorkerGroup workers;
  // Each process may hold up to max_prefetch jobs claimed ahead (default
  // 1000): on a slow store three processes would hold a 2000-job drain
  // between them before the fourth's first claim. Bounded to a sixteenth of
  // the jobs per process, every process gets a share of even a small drain.
  const int max_prefetch = std::min(WorkerOptions{}.max_prefetch, n / (4 * kWorkers));
  ASSERT_TRUE(workers.Spawn({POPQUEUE_DRAIN_WORKER, url, backend.db_name,
                             collection, log, std::to_string(kConcurrency),
                             std::to_string(max_prefetch)}));
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
  std::printf("[%s] drained %lld/%d jobs in %.1f s = %.0f jobs/s\n",
              backend.name.c_str(), static_cast<long long>(completed), n,
              seconds, completed / seconds);
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
    if (std::sscanf(line.c_str(), "%d %ld", &index, &pid) != 2 || index < 0 ||
        index >= n || !share.contains(static_cast<pid_t>(pid))) {
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
    std::printf("[%s] worker %d (pid %d) ran %d jobs (%.1f%%)\n",
                backend.name.c_str(), w++, static_cast<int>(worker_pid), jobs,
                100.0 * jobs / n);
    // SQLite has one write lock per file: a process whose claims meet it
    // taken sleeps in SQLite's busy handler and may do little of a 2 s
    // drain, so there every process only has to take part.
    const double min_share = backend.name == "sqlite" ? 1.0 / n : kMinShare;
    EXPECT_GE(jobs, min_share * n)
        << "worker pid " << worker_pid << " did less than "
        << 100 * min_share << "% of the work";
  }

  // Leave a server as found (its schema aside); keep the jobs when the test
  // failed, to look at them.
  if (!backend.url_env.empty() && !HasFailure()) {
    absl::StatusOr<int> deleted;
    do {
      deleted = db.JobDeleteFinishedBefore(
          {.before = absl::Now() + absl::Hours(1), .limit = 1000});
    } while (deleted.ok() && *deleted > 0);
  } else if (!backend.url_env.empty()) {
    std::printf("[%s] jobs kept in collection %s\n", backend.name.c_str(),
                collection.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backends, DrainTest, ::testing::ValuesIn(CompiledBackends()),
    [](const ::testing::TestParamInfo<DrainBackend>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace popqueue
