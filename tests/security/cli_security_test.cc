// Bad input through the CLI door: hostile strings in flags are stored
// verbatim (never run by a shell or a query), malformed values exit 2 naming
// the flag and store nothing, oversized payloads are refused with a clear
// message, and a password in a database URL never appears in the output.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/support/run_cli.h"
#include "tests/support/test_util.h"

extern char** environ;

namespace popqueue {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

using Result = testing::CliResult;

class CliSecurityTest : public ::testing::Test {
 protected:
  // Runs popqueue with `args` and `extra_env`, the CLI's own variables
  // removed from the environment.
  Result Run(std::vector<std::string> args, std::vector<std::string> extra_env = {}) {
    return testing::RunCli(POPQUEUE_CLI_PATH, args, dir_.path(), "", extra_env);
  }

  std::vector<Job> Jobs() {
    auto queue = Queue::Open(QueueConfig{.db_url = dir_.SqliteUrl()});
    EXPECT_TRUE(queue.ok()) << queue.status();
    if (!queue.ok()) return {};
    auto page = (*queue)->ListJobs(JobFilter{.limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->jobs : std::vector<Job>{};
  }

  TempDir dir_;
};

TEST_F(CliSecurityTest, HostileStringsAreStoredVerbatim) {
  const std::string marker = dir_.path() + "/pwned";
  const std::vector<std::string> evil = {
      "'; DROP TABLE jobs; --",
      "$(touch " + marker + ")",
      "`touch " + marker + "`; touch " + marker,
      "{\"$gt\": \"\"}",
      "<script>alert(1)</script>",
      "%s%s%n",
      "-not-a-flag",
  };
  for (const std::string& s : evil) {
    Result r =
        Run({"enqueue", "--db-url", dir_.SqliteUrl(), "--identifier", s, "--data", s, "--", s});
    ASSERT_EQ(r.exit_code, 0) << s << ": " << r.err;
  }
  EXPECT_FALSE(std::ifstream(marker).good()) << "a shell ran a payload";
  std::vector<Job> jobs = Jobs();
  ASSERT_EQ(jobs.size(), evil.size());
  for (const Job& job : jobs) {
    EXPECT_EQ(job.name, job.data);
    EXPECT_EQ(job.identifier, job.data);
    EXPECT_NE(std::find(evil.begin(), evil.end(), job.data), evil.end()) << job.data;
  }
}

TEST_F(CliSecurityTest, MalformedValuesFailAndStoreNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"--priority", "high"},
      {"--priority", "99999999999999999999"},
      {"--max-attempts", "-1"},
      {"--max-attempts", "1e3"},
      {"--delay", "soon"},
      {"--delay", "-5s"},
      {"--score", "yesterday"},
      {"--timeout", "0x10"},
      {"--queue", "bad queue name!"},
      {"--score", "1", "--delay", "1s"},
      {"--backoff", "\xff\xfe"},
      {"--no-such-flag", "x"},
  };
  for (std::vector<std::string> args : bad) {
    args.insert(args.begin(), {"enqueue", "--db-url", dir_.SqliteUrl(), "n"});
    Result r = Run(args);
    EXPECT_NE(r.exit_code, 0) << ::testing::PrintToString(args);
    EXPECT_THAT(r.err, HasSubstr("popqueue")) << ::testing::PrintToString(args);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  for (const std::string& id : {"abc", "-1", "1 OR 1=1", "99999999999999999999"}) {
    Result r = Run({"job", "--db-url", dir_.SqliteUrl(), id});
    EXPECT_NE(r.exit_code, 0) << id;
    EXPECT_FALSE(r.err.empty()) << id;
  }
  EXPECT_TRUE(Jobs().empty());
}

TEST_F(CliSecurityTest, OversizedPayloadIsRefusedClearly) {
  std::string path = dir_.path() + "/big";
  std::ofstream(path) << std::string((1 << 20) + 1, 'x');
  Result r = Run({"enqueue", "--db-url", dir_.SqliteUrl(), "--data-file", path, "n"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("exceeds the limit"));
  EXPECT_TRUE(Jobs().empty());
}

TEST_F(CliSecurityTest, PasswordsInUrlsAreNeverPrinted) {
  const std::string secret = "hunter2-Secret-9f";
  const std::vector<std::string> urls = {
      "postgres://app:" + secret + "@127.0.0.1:1/db?connect_timeout=2",
      "postgres://app:" + secret + "@127.0.0.1:notaport/db",
      "mongodb://app:" + secret + "@127.0.0.1:1/db?serverSelectionTimeoutMS=1000",
      "redis://:" + secret + "@127.0.0.1:1",
      "nosuchdb://app:" + secret + "@h/db",
  };
  for (const std::string& url : urls) {
    Result flag = Run({"jobs", "--db-url", url});
    EXPECT_NE(flag.exit_code, 0) << url;
    EXPECT_THAT(flag.err + flag.out, Not(HasSubstr(secret))) << url;
    Result env = Run({"stats"}, {"DB_URL=" + url});
    EXPECT_NE(env.exit_code, 0) << url;
    EXPECT_THAT(env.err + env.out, Not(HasSubstr(secret))) << url;
  }
}

// Bad token entries stop `serve` and `config check` with a message naming
// the key, the source, the entry and the field, exit 2, and never the
// secret; good ones are listed as id:scope:***.
TEST_F(CliSecurityTest, BadTokensStopStartUpWithoutShowingASecret) {
  const std::string secret = "tok3n-Secret-value-9f";
  const struct {
    std::vector<std::string> args, env;
    std::string want;
  } bad[] = {
      {{"serve", "--port", "0", "--no-grpc", "--tokens", "ci:wrte:" + secret},
       {},
       "scope of token \"ci\""},
      {{"config", "check"},
       {"POPQUEUE_TOKENS=ops:admin:" + secret + ",ci:read:short"},
       "entry 2: secret of token \"ci\""},
      {{"config", "check"},
       {"POPQUEUE_TOKENS=a:read:" + secret + ",b:admin:" + secret},
       "same secret"},
      {{"serve", "--port", "0", "--no-grpc", "--public-reads=false"}, {}, "publicReads"},
  };
  for (const auto& b : bad) {
    std::vector<std::string> args = b.args;
    args.insert(args.begin() + 1, {"--db-url", dir_.SqliteUrl()});
    if (args[0] == "config") args.erase(args.begin() + 1, args.begin() + 3);
    Result r = Run(args, b.env);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.err;
    EXPECT_THAT(r.err, HasSubstr(b.want)) << r.err;
    EXPECT_THAT(r.err + r.out, Not(HasSubstr(secret)));
  }
  Result ok = Run({"config", "check"},
                  {"POPQUEUE_TOKENS=ops:admin:" + secret + ",grafana:read:" + secret + "-2"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("ops:admin:***,grafana:read:***"));
  EXPECT_THAT(ok.err + ok.out, Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace popqueue
