// Four worker processes (drain_worker.cc) drain one collection: every job's
// handler runs exactly once (counted from the workers' side log) and the
// store counts every job completed, nothing else.
//
// N = 50000 against a real MongoDB (MONGODB_URL) or with
// POPQUEUE_TEST_MONGODB_FULL=1; otherwise a smaller N that keeps the test
// quick on FerretDB, the default test server. The test prints which N ran
// and why, and the time it took.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mongo_test_util.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue::store {
namespace {

using ::popqueue::testing::EnvOr;
using ::popqueue::testing::FreshCollection;
using ::popqueue::testing::OpenOrDie;

constexpr char kDatabase[] = "popqueue_test";
constexpr int kWorkers = 4;
constexpr int kConcurrency = 32;  // per worker process
constexpr int kFullJobs = 50000;
constexpr int kQuickJobs = 2000;

pid_t SpawnWorker(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  std::vector<char*> argv;
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

TEST(MongoDrain, FourWorkerProcessesCompleteEachJobExactlyOnce) {
  POPQUEUE_REQUIRE_MONGODB(url);
  const bool real_mongodb = !EnvOr("MONGODB_URL").empty();
  const bool full = real_mongodb || EnvOr("POPQUEUE_TEST_MONGODB_FULL") == "1";
  const int n = full ? kFullJobs : kQuickJobs;
  std::printf("draining %d jobs with %d worker processes: %s\n", n, kWorkers,
              real_mongodb ? "a real MongoDB (MONGODB_URL)"
              : full       ? "POPQUEUE_TEST_MONGODB_FULL=1"
                     : "FerretDB; POPQUEUE_TEST_MONGODB_FULL=1 runs 50000");
  RecordProperty("jobs", n);

  const std::string collection = FreshCollection("drain");
  {
    QueueConfig config{.db_url = url,
                       .db_name = kDatabase,
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
    std::printf("enqueued %d jobs in %.1f s\n", n,
                absl::ToDoubleSeconds(absl::Now() - t0));
  }

  const std::string log = ::testing::TempDir() + "/" + collection + ".log";
  std::remove(log.c_str());
  const absl::Time start = absl::Now();
  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(
        SpawnWorker({POPQUEUE_DRAIN_WORKER, url, kDatabase, collection, log,
                     std::to_string(kConcurrency)}));
    ASSERT_GT(workers.back(), 0);
  }

  // Until the handlers ran n times (the side log; cheap to watch) and the
  // store counts every job completed, or a worker dies.
  auto store = OpenOrDie(url, collection);
  ASSERT_NE(store, nullptr);
  const absl::Time deadline =
      start + (full ? absl::Minutes(60) : absl::Minutes(5));
  std::map<JobState, int64_t> counts;
  bool workers_alive = true;
  while (absl::Now() < deadline && workers_alive) {
    absl::SleepFor(absl::Milliseconds(500));
    for (pid_t pid : workers) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) workers_alive = false;
    }
    std::ifstream lines(log);
    const auto runs = std::count(std::istreambuf_iterator<char>(lines),
                                 std::istreambuf_iterator<char>(), '\n');
    if (runs < n) continue;
    // Every handler ran: the counts settle once the completers flushed.
    auto by_queue = store->JobCountByState();
    ASSERT_TRUE(by_queue.ok()) << by_queue.status();
    counts.clear();
    for (const QueueCounts& q : *by_queue) {
      for (const auto& [state, c] : q.by_state) counts[state] += c;
    }
    if (counts[JobState::kCompleted] == n) break;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (pid_t pid : workers) kill(pid, SIGTERM);
  for (pid_t pid : workers) {
    int status = 0;
    waitpid(pid, &status, 0);
  }
  std::printf("drained %lld/%d jobs in %.1f s = %.0f jobs/s\n",
              static_cast<long long>(counts[JobState::kCompleted]), n, seconds,
              counts[JobState::kCompleted] / seconds);

  ASSERT_TRUE(workers_alive) << "a worker process exited early";
  for (const auto& [state, c] : counts) {
    if (state != JobState::kCompleted) {
      EXPECT_EQ(c, 0) << JobStateName(state);
    }
  }
  EXPECT_EQ(counts[JobState::kCompleted], n);

  std::vector<int> runs(n, 0);
  std::ifstream in(log);
  std::string line;
  int bad_lines = 0;
  while (std::getline(in, line)) {
    const int i = std::atoi(line.c_str());
    if (line.empty() || i < 0 || i >= n) {
      ++bad_lines;
    } else {
      ++runs[i];
    }
  }
  EXPECT_EQ(bad_lines, 0);
  int not_once = 0;
  for (int i = 0; i < n; ++i) {
    if (runs[i] != 1 && ++not_once <= 5) {
      ADD_FAILURE() << "job " << i << " ran " << runs[i] << " times";
    }
  }
  EXPECT_EQ(not_once, 0);
  std::remove(log.c_str());
}

}  // namespace
}  // namespace popqueue::store
