// Timeouts and cancellation that hold (issue 27), on every backend compiled
// in, with two worker processes of one slot each and a ledger of start and
// end times kept by the handlers themselves:
//
// - an `--exec` command that traps SIGTERM and runs on past its timeout, and
//   one that ignores SIGTERM until the worker SIGKILLs it (stopGrace);
// - a C++ handler that ignores cancellation past its timeout (stop_worker);
// - Cancel() of a running job whose handler ignores it;
// - SIGTERM of the worker during such a run (C++ and exec).
//
// Each time: the job keeps its lease and shows the stop request while the
// handler runs, the retry never starts before the first run has ended (the
// retry's own command checks that the first run's process is gone), and a
// SIGTERMed worker exits within its shutdown deadline.
//
// Server backends read their URL from POPQUEUE_TEST_<BACKEND>_URL (set by
// scripts/with-services); without it the test is skipped, or fails when
// CI=true. SQLite uses a temp file shared by the processes.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/support/test_util.h"

extern char** environ;

namespace popqueue {
namespace {

using testing::Eventually;

struct Backend {
  std::string name;
  std::string url_env;  // "" for SQLite
  std::string db_name;
};

std::ostream& operator<<(std::ostream& os, const Backend& b) { return os << b.name; }

std::vector<Backend> Backends() {
  std::vector<Backend> out = {{"sqlite", "", "popqueue"}};
#ifdef POPQUEUE_STOP_POSTGRES
  out.push_back({"postgres", "POPQUEUE_TEST_POSTGRES_URL", "postgres"});
#endif
#ifdef POPQUEUE_STOP_REDIS
  out.push_back({"redis", "POPQUEUE_TEST_REDIS_URL", "popqueue"});
#endif
#ifdef POPQUEUE_STOP_MONGODB
  out.push_back({"mongodb", "POPQUEUE_TEST_MONGODB_URL", "popqueue_test"});
#endif
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// One ledger line: "<event> <attempt> <pid> <unix us>".
struct Entry {
  std::string event;
  int attempt = 0;
  pid_t pid = 0;
  absl::Time at;
};

std::vector<Entry> ReadLedger(const std::string& path) {
  std::vector<Entry> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    Entry e;
    int64_t us = 0;
    if (fields >> e.event >> e.attempt >> e.pid >> us) {
      e.at = absl::FromUnixMicros(us);
      out.push_back(e);
    } else {
      out.push_back(Entry{.event = line});  // e.g. "overlap ..."
    }
  }
  return out;
}

std::optional<Entry> Find(const std::vector<Entry>& ledger, const std::string& event, int attempt) {
  for (const Entry& e : ledger) {
    if (e.event == event && e.attempt == attempt) return e;
  }
  return std::nullopt;
}

bool Has(const std::string& path, const std::string& event, int attempt) {
  return Find(ReadLedger(path), event, attempt).has_value();
}

pid_t Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

// Waits up to `timeout` for `pid` to exit; its wait status, or nullopt.
std::optional<int> WaitExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return std::nullopt;
}

class StopTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const Backend& b = GetParam();
    if (b.url_env.empty()) {
      url_ = tmp_.SqliteUrl("stop.db");
    } else {
      url_ = Env(b.url_env.c_str());
      if (url_.empty()) {
        if (Env("CI") == "true") {
          GTEST_FAIL() << b.url_env
                       << " is not set (CI=true): run the tests through "
                          "scripts/test or scripts/with-services";
        }
        GTEST_SKIP() << b.url_env << " is not set: run through scripts/with-services";
      }
    }
    collection_ = absl::StrCat("stop_", getpid(), "_", RandomToken() & 0xffffff);
    ledger_ = tmp_.path() + "/ledger";
    QueueConfig config{
        .db_url = url_, .db_name = b.db_name, .collection = collection_, .retries = 1};
    config.worker.handle_signals = false;
    queue_ = std::make_unique<Queue>(config);
    ASSERT_TRUE(queue_->status().ok()) << queue_->status();
  }

  void TearDown() override {
    for (pid_t pid : pids_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    // What the ledger saw, for the log.
    for (const Entry& e : ReadLedger(ledger_)) {
      std::printf("[%s] ledger: %s %d pid %d at +%.3f s\n", GetParam().name.c_str(),
                  e.event.c_str(), e.attempt, static_cast<int>(e.pid),
                  absl::ToDoubleSeconds(e.at - t0_));
    }
  }

  // Two C++ workers (stop_worker); attempt 1 runs `handler_ms` (-1 = forever).
  void StartCppWorkers(int handler_ms, int grace_ms, int shutdown_ms) {
    for (int i = 0; i < 2; ++i) {
      pid_t pid = Spawn({POPQUEUE_STOP_WORKER, url_, GetParam().db_name, collection_, ledger_,
                         std::to_string(handler_ms), std::to_string(grace_ms),
                         std::to_string(shutdown_ms)});
      ASSERT_GT(pid, 0);
      pids_.push_back(pid);
    }
  }

  // Two `popqueue worker --exec stop=COMMAND` processes. In COMMAND, LEDGER
  // is replaced by the ledger's path; attempt 2 of every command records at
  // once whether attempt 1's process is still alive ("overlap").
  void StartExecWorkers(const std::string& first_attempt, const std::string& grace,
                        const std::string& shutdown) {
    const std::string stamp = "$POPQUEUE_JOB_ATTEMPT $$ $(date +%s%6N)";
    const std::string command = absl::StrReplaceAll(
        absl::StrCat("echo \"start ", stamp, "\" >> LEDGER; ",
                     "if [ \"$POPQUEUE_JOB_ATTEMPT\" != 1 ]; then ",
                     "p=$(awk '$1==\"start\" && $2==1 {print $3}' LEDGER); ",
                     "if kill -0 \"$p\" 2>/dev/null; then echo \"overlap $p\" >> LEDGER; fi; ",
                     "echo \"end ", stamp, "\" >> LEDGER; exit 0; fi; ", first_attempt),
        {{"LEDGER", ledger_}, {"STAMP", stamp}});
    for (int i = 0; i < 2; ++i) {
      pid_t pid = Spawn({POPQUEUE_CLI_PATH,
                         "worker",
                         "--db-url",
                         url_,
                         "--db-name",
                         GetParam().db_name,
                         "--collection",
                         collection_,
                         "--concurrency",
                         "1",
                         "--max-prefetch",
                         "0",
                         "--poll-interval",
                         "50ms",
                         "--lease-duration",
                         "2s",
                         "--heartbeat-interval",
                         "200ms",
                         "--stop-grace",
                         grace,
                         "--shutdown-deadline",
                         shutdown,
                         "--exec",
                         "stop=" + command});
      ASSERT_GT(pid, 0);
      pids_.push_back(pid);
    }
  }

  JobId Enqueue(absl::Duration timeout) {
    t0_ = absl::Now();
    auto r = queue_->Enqueue(
        "stop", "x", EnqueueOptions{.timeout = timeout, .backoff_base = absl::Milliseconds(100)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->id : 0;
  }

  Job Get(JobId id) {
    auto job = queue_->GetJob(id);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job{};
  }

  // While attempt 1 runs past its stop request: running, lease held, and the
  // stop request shown with `reason`.
  void ExpectStoppingShown(JobId id, const std::string& reason) {
    Job job;
    EXPECT_TRUE(Eventually(
        [&] {
          job = Get(id);
          return job.stopping.has_value();
        },
        absl::Seconds(3)))
        << "the job never showed its stop request";
    EXPECT_EQ(job.state, JobState::kRunning);
    EXPECT_EQ(job.attempt, 1);
    ASSERT_TRUE(job.stopping.has_value());
    EXPECT_EQ(job.stopping->reason, reason);
  }

  // The retry started only after attempt 1 ended (ledger times), and no
  // retry command found attempt 1's process alive.
  void ExpectNoOverlap(absl::Time first_end, const char* what = "the first run ended") {
    std::vector<Entry> ledger = ReadLedger(ledger_);
    std::optional<Entry> start2 = Find(ledger, "start", 2);
    ASSERT_TRUE(start2.has_value());
    EXPECT_GE(start2->at, first_end)
        << "the retry started " << absl::FormatDuration(first_end - start2->at)
        << " before the first run ended";
    for (const Entry& e : ledger) EXPECT_NE(e.event, "overlap") << "attempt 1 still alive";
    std::printf("[%s] retry started %.3f s after %s\n", GetParam().name.c_str(),
                absl::ToDoubleSeconds(start2->at - first_end), what);
  }

  testing::TempDir tmp_;
  std::string url_, collection_, ledger_;
  std::unique_ptr<Queue> queue_;
  std::vector<pid_t> pids_;
  absl::Time t0_ = absl::Now();
};

// A command that traps SIGTERM and finishes 2.5 s after its start (1.5 s past
// its 1 s timeout, within the 5 s stop grace).
TEST_P(StopTest, ExecTrappingSigtermPastTimeoutEndsBeforeItsRetry) {
  StartExecWorkers(
      "trap 'echo \"term STAMP\" >> LEDGER' TERM; i=0; "
      "while [ $i -lt 25 ]; do sleep 0.1; i=$((i+1)); done; echo \"end STAMP\" >> LEDGER",
      "5s", "10s");
  const JobId id = Enqueue(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "term", 1); }, absl::Seconds(20)))
      << "attempt 1 never got SIGTERM";
  ExpectStoppingShown(id, "timeout");
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "end", 2); }, absl::Seconds(20)));
  std::vector<Entry> ledger = ReadLedger(ledger_);
  std::optional<Entry> end1 = Find(ledger, "end", 1);
  ASSERT_TRUE(end1.has_value()) << "the trapping command was killed before it finished";
  ExpectNoOverlap(end1->at);
  ASSERT_TRUE(Eventually([&] { return Get(id).state == JobState::kCompleted; }));
  Job job = Get(id);
  ASSERT_FALSE(job.errors.empty());
  EXPECT_TRUE(absl::StrContains(job.errors[0].message, "timed out")) << job.errors[0].message;
}

// A command deaf to SIGTERM: the worker SIGKILLs it just before the 1.5 s
// stop grace is over; the retry starts after that, never beside it.
TEST_P(StopTest, ExecIgnoringSigtermIsKilledBeforeItsRetry) {
  StartExecWorkers("trap '' TERM; while true; do sleep 0.1; done", "1500ms", "10s");
  const JobId id = Enqueue(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "start", 1); }, absl::Seconds(20)));
  ExpectStoppingShown(id, "timeout");
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "end", 2); }, absl::Seconds(20)));
  std::vector<Entry> ledger = ReadLedger(ledger_);
  const Entry start1 = *Find(ledger, "start", 1);
  // SIGKILL comes 0.3 s before the grace ends: about timeout + grace - 0.3 s
  // after the claim (a little before start1); 2 s leaves room for that.
  ExpectNoOverlap(start1.at + absl::Milliseconds(2000));
  ASSERT_TRUE(Eventually([&] { return Get(id).state == JobState::kCompleted; }));
}

// A C++ handler that never looks at ctx.cancelled() runs 2.5 s, past its 1 s
// timeout: the job stays running (lease held, "timeout" shown) until it
// returns, and only then is the retry made available.
TEST_P(StopTest, CppHandlerIgnoringCancellationEndsBeforeItsRetry) {
  StartCppWorkers(2500, 5000, 10000);
  const JobId id = Enqueue(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "start", 1); }, absl::Seconds(20)));
  ExpectStoppingShown(id, "timeout");
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "end", 2); }, absl::Seconds(20)));
  ExpectNoOverlap(Find(ReadLedger(ledger_), "end", 1)->at);
  ASSERT_TRUE(Eventually([&] { return Get(id).state == JobState::kCompleted; }));
  Job job = Get(id);
  ASSERT_FALSE(job.errors.empty());
  EXPECT_TRUE(absl::StrContains(job.errors[0].message, "timed out")) << job.errors[0].message;
}

// Cancel() of a running job whose handler ignores it: running with the
// cancel shown until the handler returns, then cancelled; never retried.
TEST_P(StopTest, CancelOfRunningJobHoldsUntilTheHandlerReturns) {
  StartCppWorkers(2500, 5000, 10000);
  const JobId id = Enqueue(absl::Seconds(30));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "start", 1); }, absl::Seconds(20)));
  auto cancelled = queue_->Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state, JobState::kRunning);
  ExpectStoppingShown(id, "cancel");
  EXPECT_TRUE(Get(id).cancel_requested);
  ASSERT_TRUE(Eventually([&] { return Get(id).state == JobState::kCancelled; }));
  const Job job = Get(id);
  const std::optional<Entry> end1 = Find(ReadLedger(ledger_), "end", 1);
  ASSERT_TRUE(end1.has_value()) << "cancelled before the handler returned";
  ASSERT_TRUE(job.finished_at.has_value());
  EXPECT_GE(*job.finished_at, end1->at);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(Has(ledger_, "start", 2)) << "a cancelled job was retried";
}

// SIGTERM of the worker whose C++ handler ignores every stop request: it
// exits within its 3 s shutdown deadline, releasing the job with a reason.
TEST_P(StopTest, SigtermDuringIgnoredStopEndsWithinTheShutdownDeadline) {
  StartCppWorkers(-1, 1000, 3000);
  const JobId id = Enqueue(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "start", 1); }, absl::Seconds(20)));
  ExpectStoppingShown(id, "timeout");
  const pid_t holder = Find(ReadLedger(ledger_), "start", 1)->pid;
  const absl::Time sent = absl::Now();
  ASSERT_EQ(kill(holder, SIGTERM), 0);
  std::optional<int> status = WaitExit(holder, absl::Seconds(6));
  ASSERT_TRUE(status.has_value()) << "the worker did not exit within 6 s of SIGTERM";
  const absl::Duration took = absl::Now() - sent;
  std::erase(pids_, holder);
  std::printf("[%s] SIGTERMed worker exited after %.3f s (deadline 3 s)\n", GetParam().name.c_str(),
              absl::ToDoubleSeconds(took));
  EXPECT_LE(took, absl::Milliseconds(3500));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "end", 2); }, absl::Seconds(20)));
  ASSERT_TRUE(Eventually([&] { return Get(id).state == JobState::kCompleted; }));
  Job job = Get(id);
  ASSERT_FALSE(job.errors.empty());
  EXPECT_TRUE(absl::StrContains(job.errors[0].message, "released at shutdown"))
      << job.errors[0].message;
  EXPECT_TRUE(absl::StrContains(job.errors[0].message, "after it was asked to stop"))
      << job.errors[0].message;
}

// SIGTERM of an exec worker whose command ignores SIGTERM: the command is
// SIGKILLed before the deadline, so the release comes after it is gone.
TEST_P(StopTest, SigtermDuringExecEndsWithinTheShutdownDeadline) {
  StartExecWorkers("trap '' TERM; while true; do sleep 0.1; done", "5s", "3s");
  const JobId id = Enqueue(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "start", 1); }, absl::Seconds(20)));
  ExpectStoppingShown(id, "timeout");
  const Entry start1 = *Find(ReadLedger(ledger_), "start", 1);
  // The command's parent is the worker holding the job.
  std::ifstream stat("/proc/" + std::to_string(start1.pid) + "/stat");
  std::string skip;
  pid_t holder = 0;
  stat >> skip >> skip >> skip >> holder;
  ASSERT_TRUE(std::find(pids_.begin(), pids_.end(), holder) != pids_.end()) << "parent " << holder;
  const absl::Time sent = absl::Now();
  ASSERT_EQ(kill(holder, SIGTERM), 0);
  std::optional<int> status = WaitExit(holder, absl::Seconds(6));
  ASSERT_TRUE(status.has_value()) << "the worker did not exit within 6 s of SIGTERM";
  const absl::Duration took = absl::Now() - sent;
  std::erase(pids_, holder);
  std::printf("[%s] SIGTERMed exec worker exited after %.3f s (deadline 3 s)\n",
              GetParam().name.c_str(), absl::ToDoubleSeconds(took));
  EXPECT_LE(took, absl::Milliseconds(3500));
  ASSERT_TRUE(Eventually([&] { return Has(ledger_, "end", 2); }, absl::Seconds(20)));
  ExpectNoOverlap(sent, "SIGTERM was sent");
  ASSERT_TRUE(Eventually([&] { return Get(id).state == JobState::kCompleted; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, StopTest, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace popqueue
