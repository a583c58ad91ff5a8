// The configuration through the real `popqueue` binary: `config check`
// (sources, precedence, redaction), config.json from the working directory
// or --config reaching the commands that open a queue, `worker` and `serve`
// taking their settings from it, and start-up refused with exit 2 and a
// message naming the key.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
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
using ::testing::Not;
using json = nlohmann::json;

class ConfigCliTest : public CliTest {};

TEST_F(ConfigCliTest, CheckShowsEveryValueWithItsSourceAndHidesSecrets) {
  WriteFile("config.json", R"({
    "dbUrl": "postgres://app:file-pw@db:5432/app",
    "postgresUrl": "postgres://other/app",
    "redisUrl": "redis://:redis-pw@cache:6379",
    "dbName": "fromfile", "collectionName": "fromfile", "port": 1111,
    "notificationConfig": {
      "slack": {"token": "xoxb-slack-pw", "channel": "#ops"},
      "email": {"smtpConfig": {"host": "smtp.example.com", "port": 587,
                               "auth": {"user": "u", "pass": "smtp-pw"}},
                "from": "q@example.com", "to": ["ops@example.com"]}
    }
  })");
  Env env = {{"POPQUEUE_DB_NAME", "fromenv"},
             {"POPQUEUE_PORT", "2222"},
             {"POPQUEUE_TOKEN", "token-pw"},
             {"WORKER_TIMEOUT", "45000"}};
  Result r = Run({"config", "check", "--json", "--port", "3333"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["file"], "config.json");
  EXPECT_EQ(j["store"]["url"], "postgres://app:***@db:5432/app");
  EXPECT_EQ(j["store"]["key"], "dbUrl");
  EXPECT_EQ(j["cache"]["key"], "redisUrl");
  ASSERT_EQ(j["notes"].size(), 1u);
  EXPECT_THAT(j["notes"][0].get<std::string>(), HasSubstr("postgresUrl"));
  const json& s = j["settings"];
  EXPECT_EQ(s["port"]["value"], 3333);
  EXPECT_EQ(s["port"]["source"], "flag");
  EXPECT_EQ(s["dbName"]["value"], "fromenv");
  EXPECT_EQ(s["dbName"]["source"], "env");
  EXPECT_EQ(s["dbName"]["origin"], "POPQUEUE_DB_NAME");
  EXPECT_EQ(s["collectionName"]["value"], "fromfile");
  EXPECT_EQ(s["collectionName"]["source"], "config.json");
  EXPECT_EQ(s["retries"]["source"], "default");
  EXPECT_EQ(s["workerTimeout"]["value"], "45s");
  EXPECT_EQ(s["token"]["value"], "***");
  EXPECT_EQ(s["notificationConfig"]["value"]["slack"]["channel"], "#ops");

  Result text = Run({"config", "check"}, env);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out,
              AllOf(HasSubstr("job store:    postgres://app:***@db:5432/app (from dbUrl)"),
                    HasSubstr("coordinator:  redis://:***@cache:6379 (from redisUrl)"),
                    HasSubstr("env POPQUEUE_PORT"), HasSubstr("config.json")));
  for (const Result* out : {&r, &text}) {
    for (const char* secret : {"file-pw", "redis-pw", "xoxb-slack-pw", "smtp-pw", "token-pw"}) {
      EXPECT_THAT(out->out + out->err, Not(HasSubstr(secret))) << secret;
    }
  }
}

TEST_F(ConfigCliTest, InvalidConfigurationStopsEveryCommandNamingTheKey) {
  std::vector<BadConfig> cases = {
      {R"({"dbURL": "sqlite://x.db"})", {}, {"jobs"}, {"dbURL", "did you mean \"dbUrl\""}},
      {R"({"memcachedUrl": "redis://m:6379"})",
       {},
       {"enqueue", "x"},
       {"memcachedUrl", "memcached://"}},
      {"",
       {{"WORKER_TIMEOUT", "soon"}},
       {"worker", "--exec", "x=true"},
       {"workerTimeout", "WORKER_TIMEOUT"}},
      {R"({"port": 70000})", {}, {"serve"}, {"port", "0 to 65535"}},
      {"",
       {{"POPQUEUE_CONFIG", "/nonexistent/config.json"}},
       {"stats"},
       {"POPQUEUE_CONFIG", "/nonexistent/config.json"}},
      {R"({"notificationConfig": {"webhook": {"url": 5}}})",
       {},
       {"config", "check"},
       {"notificationConfig", "webhook"}},
      {R"({"retries": "three"})", {}, {"config", "check"}, {"retries", "an integer"}},
      {"{", {}, {"migrate"}, {"config.json", "not valid JSON"}},
      // Redis over TLS needs a tunnel (hiredis 0.14 has no TLS).
      {"", {{"DB_URL", "rediss://cache:6380"}}, {"stats"}, {"dbUrl", "stunnel"}},
      {R"({"redisUrl": "rediss://cache:6380"})", {}, {"serve"}, {"redisUrl", "no TLS"}},
      // TLS files: both or neither, present and loadable, the client CA only
      // with them.
      {R"({"tlsCert": "server.crt"})", {}, {"serve"}, {"tlsCert", "tlsKey is not"}},
      {"",
       {{"POPQUEUE_TLS_CERT", "/nonexistent/server.crt"},
        {"POPQUEUE_TLS_KEY", "/nonexistent/server.key"}},
       {"config", "check"},
       {"tlsCert", "POPQUEUE_TLS_CERT", "/nonexistent/server.crt"}},
      {"", {{"POPQUEUE_GRPC_CLIENT_CA", "ca.crt"}}, {"serve"}, {"grpcClientCa", "needs tlsCert"}},
  };
  ExpectRefused(cases);
}

TEST_F(ConfigCliTest, CommandsOpenTheQueueTheConfigNames) {
  WriteFile("config.json", R"({"dbUrl": "sqlite://./fromfile.db"})");
  WriteFile("other.json", R"({"dbUrl": "sqlite://./other.db"})");
  Result enq = Run({"enqueue", "hello", "--data", "x"});
  ASSERT_EQ(enq.exit_code, 0) << enq.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/fromfile.db"));
  Result jobs = Run({"jobs", "--json"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_EQ(json::parse(jobs.out)["jobs"].size(), 1u);
  // --config (before the command too) picks another file.
  Result other = Run({"--config", "other.json", "jobs", "--json"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(json::parse(other.out)["jobs"].size(), 0u);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/other.db"));
  // DB_URL beats config.json; --db-url beats DB_URL.
  Result env = Run({"jobs", "--json"}, {{"DB_URL", "sqlite://./other.db"}});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(json::parse(env.out)["jobs"].size(), 0u);
  Result flag = Run({"jobs", "--json", "--db-url", "sqlite://./fromfile.db"},
                    {{"DB_URL", "sqlite://./other.db"}});
  ASSERT_EQ(flag.exit_code, 0) << flag.err;
  EXPECT_EQ(json::parse(flag.out)["jobs"].size(), 1u);
}

TEST_F(ConfigCliTest, WorkerTakesItsSettingsFromTheConfig) {
  WriteFile("config.json",
            R"({"dbUrl": "sqlite://./w.db", "queues": ["q1", "q2"],
                               "concurrency": 3, "workerId": "from-file"})");
  Child c = Start({"worker", "--exec", "x=true"}, {{"WORKER_ID", "from-env"}});
  std::string err;
  bool started = ReadUntil(c.err, err, "SIGINT/SIGTERM stops it",
                           std::chrono::steady_clock::now() + std::chrono::seconds(30));
  kill(c.pid, SIGTERM);
  Result r = Finish(c, {});
  ASSERT_TRUE(started) << err;
  EXPECT_THAT(err, HasSubstr("worker from-env working queues q1,q2 "
                             "(concurrency 3)"));
  // The banner is printed just before Start() installs its signal handlers,
  // so an early SIGTERM may end the process by the default action (143).
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 128 + SIGTERM) << err;
}

TEST_F(ConfigCliTest, ServeTakesItsSettingsFromTheConfig) {
  WriteFile("config.json", R"({"dbUrl": "sqlite://./s.db", "host": "127.0.0.1",
                               "port": 0, "grpcEnabled": false})");
  Child c = Start({"serve"}, {{"POPQUEUE_TOKEN", "secret-token"}});
  std::string err;
  bool started = ReadUntil(c.err, err, "mutating calls need",
                           std::chrono::steady_clock::now() + std::chrono::seconds(30));
  std::smatch m;
  std::regex port_re("http://127\\.0\\.0\\.1:(\\d+)/");
  bool has_port = std::regex_search(err, m, port_re);
  std::string health, unauthorized;
  if (started && has_port) {
    int port = std::stoi(m[1]);
    health = HttpStatus(port, "GET /healthz HTTP/1.0\r\n\r\n");
    unauthorized = HttpStatus(port,
                              "POST /api/requeue-job HTTP/1.0\r\nContent-Type: "
                              "application/json\r\nContent-Length: 13\r\n\r\n{\"jobId\":\"1\"}");
  }
  kill(c.pid, SIGTERM);
  Result r = Finish(c, {});
  ASSERT_TRUE(started && has_port) << err;
  EXPECT_THAT(err, Not(HasSubstr("gRPC on port")));  // grpcEnabled: false
  EXPECT_THAT(err, Not(HasSubstr("secret-token")));
  EXPECT_THAT(health, HasSubstr("200"));
  EXPECT_THAT(unauthorized, HasSubstr("401"));
  EXPECT_EQ(r.exit_code, 0) << err;
}

// config.json's schedules run in `serve` (no worker anywhere): two servers on
// one store enqueue each fire of an every-second schedule once between them;
// GET /api/schedules and `popqueue schedules` list it with its next fire.
TEST_F(ConfigCliTest, ServersRunTheConfiguredSchedulesOncePerFire) {
  WriteFile("config.json", R"({"dbUrl": "sqlite://./s.db", "host": "127.0.0.1",
                               "port": 0, "grpcEnabled": false, "rescueInterval": "200ms",
                               "schedules": {"tick": {"cron": "* * * * * *", "queue": "cron",
                                                      "data": {"from": "config"}},
                                             "report": {"cron": "0 3 * * *",
                                                        "timeZone": "Europe/Berlin"}}})");
  Result listed = Run({"schedules", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  json cli = json::parse(listed.out);
  ASSERT_EQ(cli["schedules"].size(), 2u) << listed.out;
  // In id order (a JSON object's keys); 03:00 in Berlin, +01:00 or +02:00.
  EXPECT_EQ(cli["schedules"][0]["id"], "report");
  EXPECT_THAT(cli["schedules"][0]["nextFireLocal"].get<std::string>(), HasSubstr("T03:00:00+0"));

  Child servers[2] = {Start({"serve"}, {}), Start({"serve"}, {})};
  std::string err[2];
  int port = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(ReadUntil(servers[i].err, err[i], "every call is open",
                          std::chrono::steady_clock::now() + std::chrono::seconds(30)))
        << err[i];
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(err[0], m, std::regex("http://127\\.0\\.0\\.1:(\\d+)/")));
  port = std::stoi(m[1]);
  json api = json::parse(HttpBody(port, "GET /api/schedules HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(api["schedules"].size(), 2u) << api.dump();
  EXPECT_EQ(api["schedules"][1]["id"], "tick");
  EXPECT_EQ(api["schedules"][1]["queue"], "cron");
  EXPECT_TRUE(api["schedules"][1]["nextFire"].is_string());

  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  for (Child& c : servers) kill(c.pid, SIGTERM);
  for (int i = 0; i < 2; ++i) {
    Result r = Finish(servers[i], {});
    EXPECT_EQ(r.exit_code, 0) << err[i];
  }
  Result jobs = Run({"jobs", "--name", "tick", "--json", "--limit", "1000"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  json list = json::parse(jobs.out)["jobs"];
  // About one per second for 3.5 s; never two for one fire time.
  EXPECT_GE(list.size(), 2u) << jobs.out;
  EXPECT_LE(list.size(), 5u) << jobs.out;
  std::set<std::string> fires;
  for (const json& j : list) {
    EXPECT_EQ(j["queue"], "cron");
    EXPECT_EQ(j["data"], R"({"from":"config"})");
    EXPECT_TRUE(fires.insert(j["runAt"].dump()).second) << "two jobs for one fire: " << jobs.out;
  }
}

}  // namespace
}  // namespace popqueue::cli_test
