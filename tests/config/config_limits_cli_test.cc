// The worker-limit and size-limit settings through the real `popqueue`
// binary: flags, variables and config.json reflected by `config check`,
// bad values refused with exit 2 naming the key and its source, a running
// `serve --demo` reporting its limits in /api/stats, and a `serve` enforcing
// --max-request-bytes and --max-payload-bytes with 413.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace popqueue::cli_test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using json = nlohmann::json;

class LimitsCliTest : public CliTest {
 protected:
  // Starts `serve` on a free port; returns the port, or 0 (with the output
  // in *err) when it did not come up.
  int StartServe(const std::vector<std::string>& extra, Child* c, std::string* err) {
    std::vector<std::string> args = {"serve",  "--db-url", "sqlite://./s.db", "--host", "127.0.0.1",
                                     "--port", "0",        "--no-grpc"};
    args.insert(args.end(), extra.begin(), extra.end());
    *c = Start(args, {});
    // The banner: "... REST API on http://127.0.0.1:PORT/...".
    const std::regex port_re("REST API on http://127\\.0\\.0\\.1:(\\d+)/");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::smatch m;
    while (!std::regex_search(*err, m, port_re)) {
      if (std::chrono::steady_clock::now() >= deadline) return 0;
      // Reads what arrives within 100 ms ("\x01" never does).
      ReadUntil(c->err, *err, "\x01",
                std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
    }
    return std::stoi(m[1]);
  }

  Result Stop(Child& c, std::string err) {
    kill(c.pid, SIGTERM);
    Result r = Finish(c, {});
    r.err = std::move(err) + r.err;
    return r;
  }
};

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path +
         " HTTP/1.0\r\nConnection: close\r\nContent-Type: "
         "application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST_F(LimitsCliTest, ConfigCheckShowsLimitsFromEverySource) {
  WriteFile("config.json", R"({
    "resourceLimits": {"cpuHigh": 0.8, "cpuLow": 0.6},
    "queueConcurrency": {"emails": 20},
    "maxRequestBytes": 4096
  })");
  Env env = {{"POPQUEUE_JOB_RATE_LIMITS", "send_sms=30/1m"}, {"POPQUEUE_MAX_CONCURRENCY", "16"}};
  Result r = Run({"config", "check", "--json", "--queue-rate-limits", "emails=100/1s,reports=5/1m",
                  "--max-payload-bytes", "2048", "--max-request-bytes", "8192"},
                 env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json s = json::parse(r.out)["settings"];
  EXPECT_EQ(s["queueRateLimits"]["value"], "emails=100/1s,reports=5/1m");
  EXPECT_EQ(s["queueRateLimits"]["source"], "flag");
  EXPECT_EQ(s["queueRateLimits"]["origin"], "--queue-rate-limits");
  EXPECT_EQ(s["jobRateLimits"]["value"], "send_sms=30/1m");
  EXPECT_EQ(s["jobRateLimits"]["origin"], "POPQUEUE_JOB_RATE_LIMITS");
  EXPECT_EQ(s["maxConcurrency"]["value"], 16);
  EXPECT_EQ(s["queueConcurrency"]["value"], "emails=20");
  EXPECT_EQ(s["queueConcurrency"]["source"], "config.json");
  EXPECT_EQ(s["resourceLimits"]["value"], "cpuHigh=0.8,cpuLow=0.6");
  EXPECT_EQ(s["maxHeldJobs"]["source"], "default");
  EXPECT_EQ(s["maxPayloadBytes"]["value"], 2048);
  EXPECT_EQ(s["maxRequestBytes"]["value"], 8192);  // flag beats config.json
  EXPECT_EQ(s["maxRequestBytes"]["source"], "flag");

  Result text = Run({"config", "check", "--queue-rate-limits", "emails=100/1s"}, env);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      text.out, m, std::regex("queueRateLimits +emails=100/1s +flag --queue-rate-limits")))
      << text.out;
  EXPECT_TRUE(std::regex_search(text.out, std::regex("jobRateLimits +send_sms=30/1m +env "
                                                     "POPQUEUE_JOB_RATE_LIMITS")))
      << text.out;
}

TEST_F(LimitsCliTest, BadLimitsStopEveryCommandNamingKeyAndSource) {
  const std::vector<BadConfig> cases = {
      {"",
       {},
       {"worker", "--exec", "x=true", "--queue-rate-limits", "emails=100"},
       {"invalid queueRateLimits (flag --queue-rate-limits) \"emails=100\"", "LIMIT/PERIOD",
        "emails=100/1s"}},
      {"",
       {{"POPQUEUE_JOB_RATE_LIMITS", "sms=30/fortnight"}},
       {"serve", "--demo"},
       {"invalid jobRateLimits (environment variable "
        "POPQUEUE_JOB_RATE_LIMITS)",
        "\"fortnight\" is not a duration"}},
      {R"({"queueRateLimits": {"emails": {"limit": "lots"}}})",
       {},
       {"config", "check"},
       {"invalid queueRateLimits (file config.json)", "limit must be an integer"}},
      {"",
       {},
       {"worker", "--exec", "x=true", "--resource-limits", "cpuLow=0.95"},
       {"invalid resourceLimits (flag --resource-limits)",
        "cpuLow (0.95) must be below cpuHigh (0.9)"}},
      {"",
       {},
       {"serve", "--max-request-bytes", "12"},
       {"invalid maxRequestBytes (flag --max-request-bytes) \"12\"", "1024 to"}},
      {"",
       {},
       {"worker", "--exec", "x=true", "--max-concurrency", "lots"},
       {"maxConcurrency", "--max-concurrency"}},
  };
  ExpectRefused(cases);
}

TEST_F(LimitsCliTest, HelpListsTheLimitFlags) {
  Result worker = Run({"worker", "--help"});
  ASSERT_EQ(worker.exit_code, 0);
  for (const char* flag :
       {"--queue-concurrency QUEUE=N,...", "--max-concurrency N",
        "--queue-rate-limits NAME=N/PERIOD,...", "--job-rate-limits", "--max-held-jobs",
        "--resource-limits", "--poll-interval DURATION", "--lease-duration", "--heartbeat-interval",
        "--shutdown-deadline", "--max-payload-bytes", "POPQUEUE_QUEUE_RATE_LIMITS"}) {
    EXPECT_THAT(worker.out, HasSubstr(flag));
  }
  Result serve = Run({"serve", "--help"});
  ASSERT_EQ(serve.exit_code, 0);
  for (const char* flag :
       {"--max-request-bytes N", "--max-payload-bytes N", "--grpc-max-message-bytes N",
        "--queue-rate-limits", "--max-concurrency"}) {
    EXPECT_THAT(serve.out, HasSubstr(flag));
  }
}

TEST_F(LimitsCliTest, WorkerReportsItsLimits) {
  Child c = Start({"worker", "--exec", "x=true", "--db-url", "sqlite://./w.db", "--queues", "q1,q2",
                   "--queue-concurrency", "q1=2", "--max-concurrency", "3"},
                  {{"POPQUEUE_QUEUE_RATE_LIMITS", "q2=5/1m"}});
  std::string err;
  bool started = ReadUntil(c.err, err, "queueRateLimits q2=5/1m\n",
                           std::chrono::steady_clock::now() + std::chrono::seconds(30));
  Result r = Stop(c, err);
  ASSERT_TRUE(started) << r.err;
  EXPECT_THAT(r.err, HasSubstr("worker limits: queueConcurrency q1=2; "
                               "maxConcurrency 3; queueRateLimits q2=5/1m"));
}

// The limits reach the running workers: /api/stats reports the global cap
// and resource-aware mode of `serve --demo`.
TEST_F(LimitsCliTest, ServeDemoWorkersRunWithTheConfiguredLimits) {
  Child c;
  std::string err;
  int port = StartServe({"--demo", "--max-concurrency", "3", "--resource-limits",
                         "cpuHigh=0.99,cpuLow=0.98", "--queue-rate-limits", "demo=1000/1s"},
                        &c, &err);
  json concurrency;
  if (port != 0) {
    // The demo's workers start right after the banner; wait for them.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      json stats = json::parse(
          HttpBody(port, "GET /api/stats HTTP/1.0\r\nConnection: close\r\n\r\n"), nullptr, false);
      if (!stats.is_discarded() && stats.contains("concurrency") &&
          stats["concurrency"]["configured"] != 0) {
        concurrency = stats["concurrency"];
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  Result r = Stop(c, err);
  ASSERT_NE(port, 0) << r.err;
  ASSERT_TRUE(concurrency.is_object()) << r.err;
  // The demo works two queues (10 + 1 slots); the cap binds.
  EXPECT_EQ(concurrency["configured"], 3) << concurrency;
  EXPECT_EQ(concurrency["resource_aware"], true) << concurrency;
  EXPECT_LE(concurrency["limit"].get<int>(), 3) << concurrency;
}

TEST_F(LimitsCliTest, ServeEnforcesRequestAndPayloadLimits) {
  Child c;
  std::string err;
  int port = StartServe({"--max-request-bytes", "2048", "--max-payload-bytes", "100"}, &c, &err);
  std::string small, big_body, big_payload;
  if (port != 0) {
    small = HttpStatus(port, Post("/api/jobs", R"({"name": "x", "data": "ok"})"));
    big_body = HttpStatus(
        port, Post("/api/jobs", R"({"name": "x", "data": ")" + std::string(3000, 'a') + "\"}"));
    big_payload = HttpRequest(
        port, Post("/api/jobs", R"({"name": "x", "data": ")" + std::string(500, 'a') + "\"}"));
  }
  Result r = Stop(c, err);
  ASSERT_NE(port, 0) << r.err;
  EXPECT_THAT(small, HasSubstr(" 201")) << small;
  EXPECT_THAT(big_body, HasSubstr(" 413")) << big_body;
  EXPECT_THAT(big_payload, AllOf(HasSubstr(" 413"), HasSubstr("100")))  // names the limit
      << big_payload;
}

}  // namespace
}  // namespace popqueue::cli_test
