// job.dead as a cluster fact, with real processes: three `popqueue worker`
// processes on one SQLite store, each with the webhook configured; the one
// running a job's last attempt is killed with SIGKILL, the survivors'
// rescuers dead-letter the job when its lease runs out, and the webhook
// receiver (a real HTTP server in this test) gets job.dead exactly once.
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/config/cli_harness.h"
#include "tests/notify/test_http_server.h"

namespace popqueue::cli_test {
namespace {

using nlohmann::json;

class KilledWorkerTest : public CliTest {
 protected:
  json Job(const std::string& id) {
    Result r = Run({"job", id, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? json::parse(r.out) : json();
  }
};

int DeadDeliveries(const notify::testing::TestHttpServer& hooks, const std::string& id) {
  int n = 0;
  for (const notify::testing::RecordedRequest& r : hooks.requests()) {
    json body = json::parse(r.body);
    if (body["event"] == "job.dead" && body["job"]["id"] == id) ++n;
  }
  return n;
}

TEST_F(KilledWorkerTest, JobDeadIsToldOnceWhenTheHolderIsKilledOnItsLastAttempt) {
  notify::testing::TestHttpServer hooks(nullptr);
  WriteFile("config.json", absl::StrCat(R"({"dbUrl": "sqlite://./k.db", "retries": 0,
      "leaseDuration": "1s", "heartbeatInterval": "250ms", "rescueInterval": "100ms",
      "pollInterval": "100ms",
      "notificationConfig": {"webhook": {"url": "http://127.0.0.1:)",
                                        hooks.port(), R"(/hook", "events": ["job.dead"]}}})"));
  Result enq = Run({"enqueue", "hang", "--data", "{}"});
  ASSERT_EQ(enq.exit_code, 0) << enq.err;
  const std::string id(absl::StripAsciiWhitespace(enq.out));

  constexpr int kWorkers = 3;
  std::vector<Child> workers;
  std::vector<std::string> err(kWorkers);
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(
        Start({"worker", "--worker-id", absl::StrCat("w", i), "--exec", "hang=sleep 30"}, {}));
  }
  for (int i = 0; i < kWorkers; ++i) {
    ASSERT_TRUE(ReadUntil(workers[i].err, err[i], "working queues",
                          std::chrono::steady_clock::now() + std::chrono::seconds(30)))
        << err[i];
  }
  // The holder of the job's one attempt.
  int holder = -1;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       holder < 0 && std::chrono::steady_clock::now() < deadline;) {
    json job = Job(id);
    if (job.value("state", "") == "running") {
      const std::string w = job["workerId"].get<std::string>();
      ASSERT_EQ(w.size(), 2u) << w;
      holder = w[1] - '0';
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_GE(holder, 0) << "the job was never claimed";
  ASSERT_EQ(kill(workers[holder].pid, SIGKILL), 0);
  Finish(workers[holder], {});

  // The lease (1 s) plus a rescue round, or, when the killed worker was also
  // the maintenance leader, its leadership's 15 s (leader_ttl) first.
  json job;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(45);
       std::chrono::steady_clock::now() < deadline;) {
    job = Job(id);
    if (job.value("state", "") == "dead") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(job.value("state", ""), "dead") << job.dump();
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       DeadDeliveries(hooks, id) == 0 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Many more rescue rounds in both survivors: still one delivery.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(DeadDeliveries(hooks, id), 1);
  for (const notify::testing::RecordedRequest& r : hooks.requests()) {
    json body = json::parse(r.body);
    EXPECT_EQ(body["event"], "job.dead") << r.body;
    EXPECT_THAT(body["job"]["error"].get<std::string>(), ::testing::HasSubstr("lease expired"));
  }
  for (int i = 0; i < kWorkers; ++i) {
    if (i == holder) continue;
    kill(workers[i].pid, SIGTERM);
    Result r = Finish(workers[i], {});
    EXPECT_EQ(r.exit_code, 0) << err[i];
  }
}

}  // namespace
}  // namespace popqueue::cli_test
