// The original README's configuration snippets, read from its verbatim copy
// (tests/readme/original_README.md) and loaded as a user would load them:
// the config.json sample exactly as printed (all four URLs at once), the
// DB_URL/REDIS_URL exports, and the Kubernetes Deployment's env block
// (WORKER_ID from metadata.name, WORKER_TIMEOUT "30000"). Each key must load
// and take effect; none may be refused.
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "notify/notify_config.h"

namespace popqueue::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The first fenced block after the heading line `heading` (e.g.
// "### Configuration File"), without its fences and with the indentation of
// its opening fence removed (blocks inside list items are indented).
std::string Snippet(const std::string& heading) {
  std::ifstream in(POPQUEUE_ORIGINAL_README);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  size_t i = 0;
  while (i < lines.size() && lines[i] != heading) ++i;
  if (i == lines.size()) {
    ADD_FAILURE() << "heading \"" << heading << "\" not in " << POPQUEUE_ORIGINAL_README;
    return "";
  }
  while (i < lines.size() &&
         !absl::StartsWith(absl::StripLeadingAsciiWhitespace(lines[i]), "```")) {
    ++i;
  }
  if (i == lines.size()) {
    ADD_FAILURE() << "no code block under \"" << heading << "\"";
    return "";
  }
  size_t indent = lines[i].find("```");
  std::string out;
  for (++i; i < lines.size(); ++i) {
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(lines[i]), "```")) return out;
    out += lines[i].substr(std::min(indent, lines[i].find_first_not_of(' ')));
    out += '\n';
  }
  ADD_FAILURE() << "unterminated code block under \"" << heading << "\"";
  return out;
}

LoadOptions Options() {
  LoadOptions o;
  o.validate_notifications = [](const nlohmann::json& j) {
    return notify::ParseNotifyConfig(j).status();
  };
  return o;
}

TEST(ReadmeConfigTest, TheConfigJsonSampleLoadsAsPrintedAndEveryKeyTakesEffect) {
  std::string sample = Snippet("### Configuration File");
  ASSERT_THAT(sample, HasSubstr("\"memcachedUrl\": \"memcached://localhost:11211\""));
  LoadOptions o = Options();
  o.config_text = sample;
  absl::StatusOr<Config> c = LoadConfig(o);
  ASSERT_TRUE(c.ok()) << c.status();

  // The URLs: dbUrl is the store (it wins over postgresUrl), redisUrl the
  // coordinator (it wins over memcachedUrl); the losers are noted.
  QueueConfig q = c->ToQueueConfig();
  EXPECT_EQ(q.db_url, "mongodb://localhost:27017");
  EXPECT_EQ(c->db_url_key(), "dbUrl");
  EXPECT_EQ(q.cache_url, "redis://localhost:6379");
  EXPECT_EQ(c->cache_url_key(), "redisUrl");
  ASSERT_EQ(c->notes().size(), 2u);
  EXPECT_THAT(c->notes()[0], HasSubstr("postgresUrl (config.json) is ignored: dbUrl"));
  EXPECT_THAT(c->notes()[1], HasSubstr("memcachedUrl (config.json) is ignored: redisUrl"));

  EXPECT_EQ(q.db_name, "myDatabase");
  EXPECT_EQ(q.collection, "myCollection");
  EXPECT_EQ(q.retries, 3);
  for (std::string_view key : {key::kDbName, key::kCollectionName, key::kRetries}) {
    EXPECT_EQ(c->Get(key)->source, Source::kFile) << key;
  }

  // notificationConfig: the three channels, as printed.
  absl::StatusOr<notify::NotifyConfig> n = notify::ParseNotifyConfig(c->notification_config());
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE(n->webhook && n->email && n->slack);
  EXPECT_EQ(n->webhook->url, "https://example.com/webhook");
  EXPECT_EQ(n->email->smtp.host, "smtp.example.com");
  EXPECT_EQ(n->email->smtp.port, 587);
  EXPECT_FALSE(n->email->smtp.secure);
  EXPECT_EQ(n->email->smtp.user, "user@example.com");
  EXPECT_EQ(n->email->smtp.password, "password");
  EXPECT_EQ(n->email->from, "no-reply@example.com");
  EXPECT_THAT(n->email->to, ElementsAre("admin@example.com"));
  EXPECT_EQ(n->slack->token, "xoxb-your-slack-token");
  EXPECT_EQ(n->slack->channel, "#notifications");
}

// export DB_URL=... / export REDIS_URL=...: the environment the README sets.
std::map<std::string, std::string> Exports(const std::string& text) {
  std::map<std::string, std::string> env;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    if (!absl::ConsumePrefix(&line, "export ")) continue;
    std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    env[kv[0]] = std::string(absl::StripSuffix(absl::StripPrefix(kv[1], "\""), "\""));
  }
  return env;
}

TEST(ReadmeConfigTest, TheEnvironmentVariablesExampleSetsStoreAndCoordinator) {
  std::map<std::string, std::string> env = Exports(Snippet("### Environment Variables"));
  ASSERT_EQ(env.size(), 2u);
  LoadOptions o = Options();
  o.config_text = "{}";
  for (const auto& [k, v] : env) o.env[k] = v;
  absl::StatusOr<Config> c = LoadConfig(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ToQueueConfig().db_url, "mongodb://yourMongoDbUrl:27017");
  EXPECT_EQ(c->ToQueueConfig().cache_url, "redis://yourRedisUrl:6379");
  EXPECT_EQ(c->Get(key::kDbUrl)->origin, "DB_URL");
  EXPECT_EQ(c->Get(key::kRedisUrl)->origin, "REDIS_URL");
}

// The Deployment's env list as a container sees it: `value:` entries as
// they are, `valueFrom: fieldRef: metadata.name` as the pod's name.
std::map<std::string, std::string> PodEnv(const std::string& yaml, const std::string& pod_name) {
  std::map<std::string, std::string> env;
  std::string name;
  for (absl::string_view line : absl::StrSplit(yaml, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "- name: ")) {
      name = std::string(line);
    } else if (!name.empty() && absl::ConsumePrefix(&line, "value: ")) {
      env[name] = std::string(absl::StripSuffix(absl::StripPrefix(line, "\""), "\""));
    } else if (!name.empty() && line == "fieldPath: metadata.name") {
      env[name] = pod_name;
    }
  }
  return env;
}

TEST(ReadmeConfigTest, TheKubernetesEnvBlockConfiguresEachPod) {
  std::string yaml =
      Snippet("### Running Multiple `pop-queue` Jobs on Different Nodes in Kubernetes");
  std::map<std::string, std::string> env = PodEnv(yaml, "pop-queue-7c9d8-x2k4p");
  ASSERT_EQ(env.size(), 6u) << yaml;
  LoadOptions o = Options();
  o.config_text = "{}";
  for (const auto& [k, v] : env) o.env[k] = v;
  absl::StatusOr<Config> c = LoadConfig(o);
  ASSERT_TRUE(c.ok()) << c.status();
  QueueConfig q = c->ToQueueConfig();
  EXPECT_EQ(q.db_url, "mongodb://yourMongoDbUrl:27017");           // DB_URL over POSTGRES_URL
  EXPECT_EQ(q.cache_url, "redis://yourRedisUrl:6379");             // REDIS_URL over MEMCACHED_URL
  EXPECT_EQ(q.worker.worker_id, "pop-queue-7c9d8-x2k4p");          // metadata.name
  EXPECT_EQ(q.worker.default_timeout, absl::Milliseconds(30000));  // "30000" = ms
  ASSERT_EQ(c->notes().size(), 2u);
  EXPECT_THAT(c->notes()[0], HasSubstr("postgresUrl (POSTGRES_URL) is ignored"));
  EXPECT_THAT(c->notes()[1], HasSubstr("memcachedUrl (MEMCACHED_URL) is ignored"));
}

}  // namespace
}  // namespace popqueue::config
