// Crash safety: a worker process is killed with SIGKILL while jobs run;
// another process finishes everything. No job is lost, and only jobs that
// were in flight at the kill run twice.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

pid_t Spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// pid -> job ids started, in order.
std::map<pid_t, std::vector<JobId>> ReadLog(const std::string& path) {
  std::map<pid_t, std::vector<JobId>> out;
  std::ifstream in(path);
  pid_t pid;
  JobId id;
  while (in >> pid >> id) out[pid].push_back(id);
  return out;
}

// Runs the scenario against `db_url`; used for every store that has a
// process-level crash test.
void RunCrashScenario(const std::string& db_url, const std::string& log_path) {
  constexpr int kJobs = 600;
  constexpr int kConcurrency = 8;
  Queue queue(QueueConfig{.db_url = db_url, .retries = 5});
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  std::vector<EnqueueRequest> batch(kJobs, EnqueueRequest{.name = "crash-test"});
  ASSERT_TRUE(queue.EnqueueMany(batch).ok());

  const std::string worker = POPQUEUE_CRASH_WORKER;
  pid_t victim = Spawn({worker, db_url, log_path, "20", std::to_string(kConcurrency)});
  ASSERT_GT(victim, 0);
  // Let the victim get well into the work, then kill it mid-flight.
  ASSERT_TRUE(testing::Eventually([&] {
    auto c = queue.CountByState();
    return c.ok() && !c->empty() && c->front().by_state[JobState::kCompleted] >= 100;
  }));
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  int status = 0;
  waitpid(victim, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto running_at_kill = queue.ListJobs({.states = {JobState::kRunning}, .limit = 1000});
  ASSERT_TRUE(running_at_kill.ok());
  std::set<JobId> in_flight;
  for (const Job& j : running_at_kill->jobs) in_flight.insert(j.id);
  // Running in the store = handlers running at the kill plus handlers that
  // had finished but whose completion was not yet flushed (a few ms).
  EXPECT_LE(in_flight.size(), static_cast<size_t>(2 * kConcurrency));

  pid_t survivor = Spawn({worker, db_url, log_path, "1", "8"});
  ASSERT_GT(survivor, 0);
  bool done = testing::Eventually(
      [&] {
        auto c = queue.CountByState();
        return c.ok() && !c->empty() && c->front().by_state[JobState::kCompleted] == kJobs;
      },
      absl::Seconds(90));
  kill(survivor, SIGTERM);
  waitpid(survivor, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "survivor exit " << status;
  ASSERT_TRUE(done) << "not every job completed";

  // Every job ran; the only ones that ran twice were in flight at the kill.
  std::map<JobId, int> runs;
  for (const auto& [pid, ids] : ReadLog(log_path)) {
    for (JobId id : ids) ++runs[id];
  }
  EXPECT_EQ(runs.size(), static_cast<size_t>(kJobs));
  int twice = 0;
  for (const auto& [id, n] : runs) {
    EXPECT_LE(n, 2) << id;
    if (n == 2) {
      ++twice;
      EXPECT_TRUE(in_flight.count(id)) << "job " << id << " ran twice but was not in flight";
    }
  }
  EXPECT_LE(static_cast<size_t>(twice), in_flight.size());
  std::printf("crash: %zu jobs in flight at the kill, %d ran twice, %zu jobs ran\n",
              in_flight.size(), twice, runs.size());
  // The rescued attempts are recorded on the jobs.
  for (JobId id : in_flight) {
    auto job = queue.GetJob(id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->state, JobState::kCompleted);
    EXPECT_EQ(job->attempt, 2);
    ASSERT_FALSE(job->errors.empty());
    EXPECT_NE(job->errors.back().message.find("lease expired"), std::string::npos)
        << job->errors.back().message;
  }
}

TEST(Crash, SqliteWorkerKilledMidFlight) {
  testing::TempDir dir;
  RunCrashScenario(dir.SqliteUrl(), dir.path() + "/runs.log");
}

}  // namespace
}  // namespace popqueue
