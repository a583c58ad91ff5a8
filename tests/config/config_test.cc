// LoadConfig: defaults, precedence (flag > env > config.json > default) with
// the source of every value, the URL rules (dbUrl/postgresUrl,
// cacheUrl/redisUrl/memcachedUrl), validation messages that name the key,
// and redaction. Real files in a temporary directory; no process state.
#include "config/config.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "config/keys.h"
#include "config/redact.h"
#include "config/validate.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"

namespace popqueue::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    options_.working_dir = dir_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes <dir>/config.json (found from the working directory).
  void WriteConfig(const std::string& text) { std::ofstream(dir_ + "/config.json") << text; }
  absl::StatusOr<Config> Load() { return LoadConfig(options_); }
  std::string Error() {
    absl::StatusOr<Config> c = Load();
    EXPECT_FALSE(c.ok());
    return c.ok() ? "" : std::string(c.status().message());
  }

  std::string dir_;
  LoadOptions options_;
};

TEST_F(ConfigTest, DefaultsAreTheLibraryDefaults) {
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->file(), "");
  QueueConfig got = c->ToQueueConfig();
  QueueConfig want;
  EXPECT_EQ(got.db_url, want.db_url);
  EXPECT_EQ(got.cache_url, "");
  EXPECT_EQ(got.db_name, want.db_name);
  EXPECT_EQ(got.collection, want.collection);
  EXPECT_EQ(got.retries, want.retries);
  EXPECT_EQ(got.max_payload_bytes, want.max_payload_bytes);
  const WorkerOptions& w = got.worker;
  const WorkerOptions& d = want.worker;
  EXPECT_EQ(w.worker_id, d.worker_id);
  EXPECT_EQ(w.default_timeout, d.default_timeout);
  EXPECT_EQ(w.default_concurrency, d.default_concurrency);
  EXPECT_EQ(w.queues, d.queues);
  EXPECT_EQ(w.poll_interval, d.poll_interval);
  EXPECT_EQ(w.lease, d.lease);
  EXPECT_EQ(w.heartbeat_interval, d.heartbeat_interval);
  EXPECT_EQ(w.rescue_interval, d.rescue_interval);
  EXPECT_EQ(w.shutdown_deadline, d.shutdown_deadline);
  EXPECT_EQ(w.retry.base, d.retry.base);
  EXPECT_EQ(w.retry.cap, d.retry.cap);
  EXPECT_EQ(w.retain_completed, d.retain_completed);
  EXPECT_EQ(w.retain_cancelled, d.retain_cancelled);
  EXPECT_EQ(w.retain_dead, d.retain_dead);
  EXPECT_EQ(c->GetInt(key::kPort), 3000);
  EXPECT_EQ(c->GetString(key::kGrpcAddress), "0.0.0.0:50051");
  EXPECT_TRUE(c->GetBool(key::kGrpcEnabled));
  EXPECT_EQ(c->Get(key::kPort)->source, Source::kDefault);
  EXPECT_EQ(c->Get(key::kToken), nullptr);
}

TEST_F(ConfigTest, TheOriginalReadmeShapeLoads) {
  WriteConfig(R"({
    "dbUrl": "postgres://app:pw@localhost:5432/app",
    "redisUrl": "redis://localhost:6379",
    "dbName": "myDatabase",
    "collectionName": "myCollection",
    "retries": 3,
    "workerId": "worker-123",
    "workerTimeout": 30000,
    "notificationConfig": {
      "webhook": {"url": "https://hooks.example.com/T/B/xyz"},
      "email": {"smtpConfig": {"host": "smtp.example.com", "port": 587,
                               "secure": false,
                               "auth": {"user": "u", "pass": "smtp-pw"}},
                "from": "q@example.com", "to": "ops@example.com"},
      "slack": {"token": "xoxb-secret", "channel": "#ops"}
    }
  })");
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->file(), dir_ + "/config.json");
  QueueConfig q = c->ToQueueConfig();
  EXPECT_EQ(q.db_url, "postgres://app:pw@localhost:5432/app");
  EXPECT_EQ(q.cache_url, "redis://localhost:6379");
  EXPECT_EQ(c->cache_url_key(), "redisUrl");
  EXPECT_EQ(q.db_name, "myDatabase");
  EXPECT_EQ(q.collection, "myCollection");
  EXPECT_EQ(q.worker.worker_id, "worker-123");
  EXPECT_EQ(q.worker.default_timeout, absl::Seconds(30));  // milliseconds
  EXPECT_EQ(c->notification_config()["slack"]["channel"], "#ops");
  EXPECT_EQ(c->Get(key::kDbName)->source, Source::kFile);
}

TEST_F(ConfigTest, PrecedenceIsFlagThenEnvThenFileThenDefault) {
  WriteConfig(R"({"port": 1001, "dbName": "file", "collectionName": "file",
                  "workerTimeout": "1s"})");
  options_.env = {{"POPQUEUE_PORT", "1002"},
                  {"POPQUEUE_DB_NAME", "env"},
                  {"WORKER_TIMEOUT", "2000"},
                  {"UNRELATED", "x"}};
  options_.flags = {{"port", "1003"}};
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  // flag > env > file
  EXPECT_EQ(c->GetInt(key::kPort), 1003);
  EXPECT_EQ(c->Get(key::kPort)->source, Source::kFlag);
  EXPECT_EQ(c->Get(key::kPort)->origin, "--port");
  // env > file
  EXPECT_EQ(c->GetString(key::kDbName), "env");
  EXPECT_EQ(c->Get(key::kDbName)->source, Source::kEnv);
  EXPECT_EQ(c->Get(key::kDbName)->origin, "POPQUEUE_DB_NAME");
  EXPECT_EQ(c->GetDuration(key::kWorkerTimeout), absl::Seconds(2));
  // file > default
  EXPECT_EQ(c->GetString(key::kCollectionName), "file");
  EXPECT_EQ(c->Get(key::kCollectionName)->source, Source::kFile);
  EXPECT_EQ(c->Get(key::kCollectionName)->origin, dir_ + "/config.json");
  // default
  EXPECT_EQ(c->Get(key::kRetries)->source, Source::kDefault);
  // An empty variable counts as unset.
  options_.env = {{"POPQUEUE_DB_NAME", ""}};
  options_.flags = {};
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetString(key::kDbName), "file");
}

TEST_F(ConfigTest, ConfigFileFromFlagOrEnvironment) {
  std::string other = dir_ + "/other.json";
  std::ofstream(other) << R"({"dbName": "other"})";
  WriteConfig(R"({"dbName": "local"})");
  options_.env = {{"POPQUEUE_CONFIG", other}};
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetString(key::kDbName), "other");
  options_.env = {};
  options_.config_path = other;
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->file(), other);
  options_.config_path = dir_ + "/missing.json";
  EXPECT_THAT(Error(), AllOf(HasSubstr("--config"), HasSubstr("missing.json")));
}

TEST_F(ConfigTest, DbUrlWinsOverPostgresUrlAtAnyLevel) {
  options_.env = {{"POSTGRES_URL", "postgres://pg/app"}};
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->db_url(), "postgres://pg/app");
  EXPECT_EQ(c->db_url_key(), "postgresUrl");
  EXPECT_THAT(c->notes(), IsEmpty());
  // dbUrl from the file beats POSTGRES_URL from the environment.
  WriteConfig(R"({"dbUrl": "sqlite://./file.db"})");
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->db_url(), "sqlite://./file.db");
  EXPECT_EQ(c->db_url_key(), "dbUrl");
  ASSERT_EQ(c->notes().size(), 1u);
  EXPECT_THAT(c->notes()[0],
              AllOf(HasSubstr("postgresUrl (POSTGRES_URL) is ignored"), HasSubstr("dbUrl")));
  EXPECT_THAT(c->notes()[0], Not(HasSubstr("pg/app")));
  // postgresUrl must be a PostgreSQL URL.
  options_.env = {{"POSTGRES_URL", "mongodb://m/app"}};
  EXPECT_THAT(Error(),
              AllOf(HasSubstr("postgresUrl"), HasSubstr("POSTGRES_URL"), HasSubstr("postgres://")));
}

TEST_F(ConfigTest, CacheUrlRules) {
  options_.env = {{"MEMCACHED_URL", "memcached://localhost:11211"}};
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cache_url(), "memcached://localhost:11211");
  EXPECT_EQ(c->cache_url_key(), "memcachedUrl");

  // Both set (the original README's config.json does it): redisUrl wins,
  // whatever the levels, and the loser is noted.
  WriteConfig(R"({"redisUrl": "redis://localhost:6379"})");
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cache_url(), "redis://localhost:6379");
  EXPECT_EQ(c->cache_url_key(), "redisUrl");
  ASSERT_EQ(c->notes().size(), 1u);
  EXPECT_THAT(c->notes()[0], AllOf(HasSubstr("memcachedUrl (MEMCACHED_URL) is ignored"),
                                   HasSubstr("redisUrl (" + dir_ + "/config.json)")));

  // cacheUrl (here the --cache-url flag) settles it.
  options_.flags = {{"cache-url", "redis://other:6379"}};
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cache_url(), "redis://other:6379");
  EXPECT_EQ(c->cache_url_key(), "cacheUrl");
  EXPECT_EQ(c->notes().size(), 2u);

  // REDIS_URL is "Redis or Memcached connection URL" (the original README).
  options_.flags = {};
  options_.env = {{"REDIS_URL", "memcached://x:1"}};
  WriteConfig("{}");
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cache_url(), "memcached://x:1");
  options_.env = {{"REDIS_URL", "mongodb://x:1"}};
  EXPECT_THAT(Error(), AllOf(HasSubstr("redisUrl"), HasSubstr("REDIS_URL"), HasSubstr("redis://")));
}

TEST_F(ConfigTest, UnknownKeysAreRefusedWithASuggestion) {
  WriteConfig(R"({"dbURL": "sqlite://x.db"})");
  EXPECT_THAT(Error(),
              AllOf(HasSubstr("unknown key \"dbURL\""), HasSubstr("did you mean \"dbUrl\"")));
  WriteConfig(R"({"frobnicate": 1})");
  EXPECT_THAT(Error(),
              AllOf(HasSubstr("unknown key \"frobnicate\""), Not(HasSubstr("did you mean"))));
  // Keys inside notificationConfig belong to src/notify's parser.
  WriteConfig(R"({"notificationConfig": {"anything": {"goes": 1}}})");
  EXPECT_TRUE(Load().ok());
}

TEST_F(ConfigTest, BadFilesSayWhere) {
  WriteConfig("{\"dbName\": \"x\",\n  oops}");
  EXPECT_THAT(Error(), AllOf(HasSubstr("config.json is not valid JSON"), HasSubstr("line 2")));
  WriteConfig("[1, 2]");
  EXPECT_THAT(Error(), HasSubstr("expected a JSON object"));
}

// Every invalid value stops loading with a message naming the key, where the
// value came from and what was expected.
TEST_F(ConfigTest, InvalidValuesNameKeySourceAndExpectation) {
  struct Case {
    std::string file;  // config.json text, "" = none
    StringMap env;
    StringMap flags;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {R"({"retries": -1})", {}, {}, {"retries", "config.json", "0 to 1000"}},
      {R"({"port": "3000"})", {}, {}, {"port", "an integer"}},
      {"", {{"WORKER_TIMEOUT", "soon"}}, {}, {"workerTimeout", "WORKER_TIMEOUT", "duration"}},
      {"", {{"WORKER_TIMEOUT", "0"}}, {}, {"workerTimeout", "positive"}},
      {"", {}, {{"port", "99999"}}, {"port", "--port", "0 to 65535"}},
      {"", {}, {{"concurrency", "many"}}, {"concurrency", "--concurrency"}},
      {"", {{"POPQUEUE_CONCURRENCY", "0"}}, {}, {"POPQUEUE_CONCURRENCY", "1 to 10000"}},
      {R"({"queues": []})", {}, {}, {"queues", "list of names"}},
      {R"({"queues": ["a", 1]})", {}, {}, {"queues", "list of names"}},
      {"", {}, {{"queues", " , "}}, {"queues", "--queues"}},
      {R"({"logLevel": "verbose"})", {}, {}, {"logLevel", "debug, info, warn, error"}},
      {"", {{"POPQUEUE_GRPC_ENABLED", "maybe"}}, {}, {"grpcEnabled", "true or false"}},
      {R"({"grpcAddress": "nope"})", {}, {}, {"grpcAddress", "HOST:PORT"}},
      {"", {{"DB_URL", "mysql://db/app"}}, {}, {"dbUrl", "DB_URL", "scheme"}},
      {"", {{"DB_URL", "not a url"}}, {}, {"dbUrl", "DB_URL"}},
      {R"({"collectionName": "bad-name"})", {}, {}, {"collectionName", "plain name"}},
      {R"({"dbName": ""})", {}, {}, {"dbName", "non-empty"}},
      {R"({"heartbeatInterval": "30s", "leaseDuration": "30s"})",
       {},
       {},
       {"heartbeatInterval", "leaseDuration"}},
      {R"({"backoffBase": "2h"})", {}, {}, {"backoffBase", "backoffCap"}},
      {R"({"notificationConfig": []})", {}, {}, {"notificationConfig", "JSON object"}},
      {"",
       {{"POPQUEUE_NOTIFICATION_CONFIG", "{nope"}},
       {},
       {"notificationConfig", "POPQUEUE_NOTIFICATION_CONFIG"}},
      {"", {{"POPQUEUE_MAX_PAYLOAD_BYTES", "12kb"}}, {}, {"maxPayloadBytes", "an integer"}},
  };
  for (const Case& c : cases) {
    std::filesystem::remove(dir_ + "/config.json");
    if (!c.file.empty()) WriteConfig(c.file);
    options_.env = c.env;
    options_.flags = c.flags;
    absl::StatusOr<Config> loaded = Load();
    ASSERT_FALSE(loaded.ok()) << c.file << " " << ::testing::PrintToString(c.env)
                              << ::testing::PrintToString(c.flags);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& m : c.mentions) {
      EXPECT_THAT(loaded.status().message(), HasSubstr(m))
          << c.file << ::testing::PrintToString(c.env);
    }
  }
}

TEST_F(ConfigTest, NegatedFlagAndBooleans) {
  options_.env = {{"POPQUEUE_GRPC_ENABLED", "yes"}};
  options_.flags = {{"no-grpc", "true"}};
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->GetBool(key::kGrpcEnabled));
  EXPECT_EQ(c->Get(key::kGrpcEnabled)->origin, "--no-grpc");
  options_.flags = {};
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->GetBool(key::kGrpcEnabled));
}

TEST_F(ConfigTest, ListsAndDurationsInEverySyntax) {
  WriteConfig(R"({"queues": "a, b", "retainDead": 0, "leaseDuration": "1m",
                  "heartbeatInterval": 20000})");
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetList(key::kQueues), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c->GetDuration(key::kLeaseDuration), absl::Minutes(1));
  EXPECT_EQ(c->GetDuration(key::kHeartbeatInterval), absl::Seconds(20));
  EXPECT_EQ(c->GetDuration(key::kRetainDead), absl::ZeroDuration());
  options_.flags = {{"queues", "x,y,z"}, {"job-timeout", "1h30m"}};
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ToQueueConfig().worker.queues, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(c->ToQueueConfig().worker.default_timeout, absl::Minutes(90));
}

TEST_F(ConfigTest, NotificationValidatorIsCalledAndItsErrorNamed) {
  WriteConfig(R"({"notificationConfig": {"webhook": {"url": 5}}})");
  options_.validate_notifications = [](const nlohmann::json& j) {
    return j["webhook"]["url"].is_string()
               ? absl::OkStatus()
               : absl::InvalidArgumentError(
                     "notificationConfig.webhook.url: expected an http(s) "
                     "URL");
  };
  EXPECT_THAT(Error(),
              AllOf(HasSubstr("notificationConfig.webhook.url"), HasSubstr("config.json")));
}

TEST_F(ConfigTest, SecretsNeverAppear) {
  WriteConfig(R"({
    "dbUrl": "postgres://app:db-pw@db/app?sslpassword=ssl-pw&sslmode=require",
    "token": "tok-secret",
    "notificationConfig": {
      "webhook": {"url": "https://hooks.example.com/T/B/hook-secret",
                  "secret": "hmac-secret"},
      "email": {"smtpConfig": {"host": "smtp", "auth": {"user": "u",
                                                         "pass": "smtp-pw"}}},
      "slack": {"token": "xoxb-secret", "channel": "#ops"}
    }
  })");
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  std::string report = c->ToRedactedJson().dump();
  for (const char* secret :
       {"db-pw", "ssl-pw", "tok-secret", "hook-secret", "hmac-secret", "smtp-pw", "xoxb-secret"}) {
    EXPECT_THAT(report, Not(HasSubstr(secret))) << secret;
  }
  EXPECT_THAT(report, HasSubstr("postgres://app:***@db/app"));
  EXPECT_THAT(report, HasSubstr("sslmode=require"));
  EXPECT_THAT(report, HasSubstr("https://hooks.example.com/***"));
  EXPECT_THAT(report, HasSubstr("#ops"));

  // Error messages hide them too.
  options_.env = {{"DB_URL", "mysql://app:env-pw@db/app"}};
  EXPECT_THAT(Error(), AllOf(HasSubstr("dbUrl"), Not(HasSubstr("env-pw"))));
  options_.env = {{"POPQUEUE_TOKEN", "bad\ttoken-pw"}};
  EXPECT_THAT(Error(), AllOf(HasSubstr("token"), Not(HasSubstr("token-pw"))));
}

// tokens: id:scope:secret entries from every source; a bad entry names the
// entry, the field and the source, never the secret; config check shows id
// and scope only.
TEST_F(ConfigTest, ScopedTokensAndPublicReads) {
  WriteConfig(R"({"tokens": ["viewer:read:file-secret-0123456789",
                             "ops:admin:file-secret-abcdefghij"]})");
  absl::StatusOr<Config> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  server::AccessOptions access = AccessOptionsOf(*c);
  ASSERT_EQ(access.tokens.size(), 2u);
  EXPECT_EQ(access.tokens[0].id, "viewer");
  EXPECT_EQ(access.tokens[0].scope, server::Scope::kRead);
  EXPECT_EQ(access.tokens[1].secret, "file-secret-abcdefghij");
  EXPECT_FALSE(access.public_reads.has_value());
  std::string report = c->ToRedactedJson().dump();
  EXPECT_THAT(report,
              AllOf(HasSubstr("viewer:read:***,ops:admin:***"), Not(HasSubstr("file-secret"))));

  // The environment (comma-separated) wins over the file; flags over both.
  options_.env = {
      {"POPQUEUE_TOKENS", "ci:write:env-secret-0123456789, old:read:env-secret-abcdefghij"},
      {"POPQUEUE_PUBLIC_READS", "yes"}};
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  access = AccessOptionsOf(*c);
  ASSERT_EQ(access.tokens.size(), 2u);
  EXPECT_EQ(access.tokens[1].id, "old");
  EXPECT_EQ(access.public_reads, true);
  options_.flags = {{"tokens", "new:admin:flag-secret-0123456789"}, {"public-reads", "false"}};
  c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  access = AccessOptionsOf(*c);
  ASSERT_EQ(access.tokens.size(), 1u);
  EXPECT_EQ(access.tokens[0].id, "new");
  EXPECT_EQ(access.public_reads, false);

  // Bad entries: the key, the source, the entry and the field; no secret.
  options_.flags.clear();
  const struct {
    std::string tokens, want;
  } bad[] = {
      {"a:read:good-secret-0123456789,b:wrte:hidden-secret-0123456789",
       "entry 2: scope of token \"b\""},
      {"a:read:tooshort", "entry 1: secret of token \"a\": expected at least 16"},
      {"hidden-secret-without-colons", "entry 1: expected id:scope:secret"},
      {"a:read:hidden-secret-0123456789,a:admin:other-secret-0123456789", "\"a\" is used twice"},
      {"a:read:hidden-secret-0123456789,b:admin:hidden-secret-0123456789", "same secret"},
  };
  for (const auto& b : bad) {
    options_.env = {{"POPQUEUE_TOKENS", b.tokens}};
    std::string error = Error();
    EXPECT_THAT(error, AllOf(HasSubstr("invalid tokens"), HasSubstr("POPQUEUE_TOKENS"),
                             HasSubstr(b.want), Not(HasSubstr("hidden-secret")),
                             Not(HasSubstr("tooshort")), Not(HasSubstr("wrte"))))
        << b.tokens;
  }
  // publicReads false needs a token.
  std::filesystem::remove(dir_ + "/config.json");
  options_.env = {{"POPQUEUE_PUBLIC_READS", "false"}};
  EXPECT_THAT(Error(), AllOf(HasSubstr("invalid publicReads"), HasSubstr("POPQUEUE_PUBLIC_READS"),
                             HasSubstr("needs a token")));
  options_.env["POPQUEUE_TOKEN"] = "legacy";
  EXPECT_TRUE(Load().ok());
}

TEST(RedactTest, Urls) {
  EXPECT_EQ(RedactUrl("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
  EXPECT_EQ(RedactUrl("mongodb://u:p@a:1,b:2/db?authSource=admin"),
            "mongodb://u:***@a:1,b:2/db?authSource=admin");
  EXPECT_EQ(RedactUrl("postgres://u:p@w@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(RedactUrl("postgres://u@h/db?password=x&a=b"), "postgres://u@h/db?password=***&a=b");
  EXPECT_EQ(RedactUrl("sqlite://./a.db"), "sqlite://./a.db");
  EXPECT_EQ(RedactUrl("no scheme"), "no scheme");
}

TEST(KeysTest, TableIsConsistent) {
  std::set<std::string_view> keys, envs, flags;
  for (const KeySpec& spec : AllKeys()) {
    EXPECT_TRUE(keys.insert(spec.key).second) << spec.key;
    if (!spec.env.empty()) EXPECT_TRUE(envs.insert(spec.env).second) << spec.env;
    if (!spec.flag.empty()) {
      EXPECT_TRUE(flags.insert(spec.flag).second) << spec.flag;
    }
    EXPECT_EQ(FindKey(spec.key), &spec);
    EXPECT_FALSE(spec.help.empty()) << spec.key;
    // Environment variables are the original ones or POPQUEUE_*.
    if (!spec.env.empty() && spec.env.rfind("POPQUEUE_", 0) != 0) {
      EXPECT_THAT((std::vector<std::string_view>{"DB_URL", "REDIS_URL", "MEMCACHED_URL",
                                                 "POSTGRES_URL", "WORKER_ID", "WORKER_TIMEOUT"}),
                  ::testing::Contains(spec.env));
    }
  }
}

// docs/configuration.md documents every key with its variable and flag.
TEST(KeysTest, EveryKeyIsDocumented) {
  std::ifstream in(std::string(POPQUEUE_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md";
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const KeySpec& spec : AllKeys()) {
    std::string row = "| `" + std::string(spec.key) + "` | ";
    size_t at = doc.find(row);
    ASSERT_NE(at, std::string::npos) << spec.key << " has no row";
    std::string line = doc.substr(at, doc.find('\n', at) - at);
    if (!spec.env.empty()) {
      EXPECT_THAT(line, HasSubstr("`" + std::string(spec.env) + "`"));
    }
    if (!spec.flag.empty()) {
      EXPECT_THAT(line, HasSubstr("`--" + std::string(spec.flag) + "`"));
    }
  }
}

}  // namespace
}  // namespace popqueue::config
