// Three processes define the same every-second schedules and start at the
// same instant, so every fire is raced by all three: each fire time must be
// enqueued exactly once (the store's CronFireOnce), on SQLite (one file
// shared by the processes) and on PostgreSQL.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

constexpr int kProcesses = 3;
constexpr int kRunMs = 3500;

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

void RunCronRace(const std::string& db_url, const std::string& collection) {
  // Create the schema first so the workers do not also race the migration.
  Queue queue(QueueConfig{.db_url = db_url, .collection = collection});
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  // Start on the next whole second plus 300 ms, leaving time to spawn.
  int64_t start_ms = (absl::ToUnixMillis(absl::Now()) / 1000 + 1) * 1000 + 300;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    pids.push_back(Spawn({POPQUEUE_CRON_WORKER, db_url, collection, std::to_string(start_ms),
                          std::to_string(kRunMs)}));
    ASSERT_GT(pids.back(), 0);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker exit " << status;
  }
  auto page = queue.ListJobs({.queue = "cron-race", .limit = 1000});
  ASSERT_TRUE(page.ok()) << page.status();
  std::map<std::string, std::multiset<absl::Time>> fires;
  for (const Job& j : page->jobs) fires[j.name].insert(j.run_at);
  ASSERT_EQ(fires.size(), 3u);
  for (const auto& [name, times] : fires) {
    std::set<absl::Time> distinct(times.begin(), times.end());
    EXPECT_EQ(times.size(), distinct.size()) << name << ": a fire time was enqueued twice";
    // About one fire per second of the run (a loaded machine may skip one).
    EXPECT_GE(distinct.size(), static_cast<size_t>(kRunMs / 1000 - 1)) << name;
    for (absl::Time t : distinct) {
      EXPECT_EQ(absl::ToUnixMillis(t) % 1000, 0) << name << ": not a fire time";
    }
  }
  std::printf("cron race: %d processes, %zu jobs for %zu schedules, no duplicates\n", kProcesses,
              page->jobs.size(), fires.size());
}

TEST(CronRace, SqliteFileThreeProcesses) {
  testing::TempDir dir;
  RunCronRace(dir.SqliteUrl(), "jobs");
}

TEST(CronRace, PostgresThreeProcesses) {
  const char* url = std::getenv("POPQUEUE_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      FAIL() << "POPQUEUE_TEST_POSTGRES_URL is not set (CI=true): start the server "
                "with scripts/test or scripts/with-services";
    }
    GTEST_SKIP() << "POPQUEUE_TEST_POSTGRES_URL is not set; run under "
                    "scripts/with-services to start PostgreSQL";
  }
  RunCronRace(url, absl::StrCat("cron_race_", RandomToken() & 0xffffffff));
}

}  // namespace
}  // namespace popqueue
