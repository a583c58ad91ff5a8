// The shared hiredis client (common/redis/redis_client.h) against a real
// redis-server: URLs, binary-safe bound arguments, pipelining, scripts with
// the NOSCRIPT fallback, pub/sub reads, timeouts, and error mapping.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis_test_env.h"

namespace popqueue::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisOptionsTest, FromUrl) {
  auto url = ParseUrl("redis://u:p%40ss@example.com:6380/3?timeout_ms=250&pool_size=2");
  ASSERT_TRUE(url.ok());
  auto o = redis::Options::FromUrl(*url);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "example.com");
  EXPECT_EQ(o->port, 6380);
  EXPECT_EQ(o->user, "u");
  EXPECT_EQ(o->password, "p@ss");
  EXPECT_EQ(o->db, 3);
  EXPECT_EQ(o->command_timeout, absl::Milliseconds(250));
  EXPECT_EQ(o->pool_size, 2);
  EXPECT_EQ(o->Endpoint(), "example.com:6380");

  auto defaults = redis::Options::FromUrl(*ParseUrl("redis://h"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->port, 6379);
  EXPECT_EQ(defaults->db, 0);
  for (const char* bad : {"redis://h/x", "redis://h?timeout_ms=0", "postgres://h/db"}) {
    EXPECT_EQ(redis::Options::FromUrl(*ParseUrl(bad)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(RedisOptionsTest, WaitReplicas) {
  auto o = redis::Options::FromUrl(*ParseUrl("redis://h?wait=2"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->wait_replicas, 2);
  EXPECT_EQ(redis::Options::FromUrl(*ParseUrl("redis://h"))->wait_replicas, 0);
  auto cluster = redis::Options::FromUrl(*ParseUrl("redis://a:1,b:2/?cluster=1&wait=1"));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(cluster->wait_replicas, 1);
  for (const char* bad : {"redis://h?wait=-1", "redis://h?wait=x",
                          "redis://h?wait=", "redis+cluster://a:1,b:2?wait=1.5"}) {
    auto refused = redis::Options::FromUrl(*ParseUrl(bad));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("wait=")) << bad;
  }
  EXPECT_TRUE(redis::IsReadOnlyCommand({"hgetall", "k"}));
  EXPECT_TRUE(redis::IsReadOnlyCommand({"PUBLISH", "c", "m"}));
  EXPECT_FALSE(redis::IsReadOnlyCommand({"SET", "k", "v"}));
  EXPECT_FALSE(redis::IsReadOnlyCommand({"SOMENEWCOMMAND"}));  // unknown: a write
}

// The test server has no replica: with wait=1 every write fails after
// timeout_ms saying none acknowledged it (and stays applied), reads and
// read-only scripts do not wait.
TEST(RedisClientTest, WaitWithoutReplicasRefusesWritesNotReads) {
  POPQUEUE_REQUIRE_REDIS();
  const std::string base = RedisUrl();
  const std::string url =
      absl::StrCat(base, base.find('?') == std::string::npos ? "?" : "&", "wait=1&timeout_ms=300");
  auto client = redis::Client::Connect(*ParseUrl(url));
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string key = UniqueCollection("{client}:wait");
  absl::Time t0 = absl::Now();
  auto set = (*client)->Command({"SET", key, "v"});
  const absl::Duration took = absl::Now() - t0;
  ASSERT_EQ(set.status().code(), absl::StatusCode::kUnavailable) << set.status();
  EXPECT_THAT(std::string(set.status().message()),
              HasSubstr("0 of the 1 replicas that wait=1 asks for"));
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Milliseconds(300 + 250 + 200));
  // Applied on the master all the same, and read back without waiting.
  t0 = absl::Now();
  auto got = (*client)->Command({"GET", key});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->str, "v");
  redis::Script read("return redis.call('GET', KEYS[1])", redis::Script::Access::kReadOnly);
  auto read_back = (*client)->Eval(read, {key}, {});
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  EXPECT_EQ(read_back->str, "v");
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(200));
  redis::Script write("return redis.call('SET', KEYS[1], ARGV[1])");
  EXPECT_TRUE(absl::IsUnavailable((*client)->Eval(write, {key}, {"w"}).status()));
  auto piped = (*client)->Pipeline({{"GET", key}, {"DEL", key}});
  EXPECT_TRUE(absl::IsUnavailable(piped.status())) << piped.status();
  auto gone = RawClient()->Command({"EXISTS", key});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->integer, 0);
}

TEST(RedisClientTest, UnreachableServerIsUnavailableQuicklyWithoutPassword) {
  const absl::Time start = absl::Now();
  auto client =
      redis::Client::Connect(*ParseUrl("redis://:secret@127.0.0.1:1?connect_timeout_ms=500"));
  ASSERT_EQ(client.status().code(), absl::StatusCode::kUnavailable) << client.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(std::string(client.status().message()), Not(HasSubstr("secret")));
}

TEST(RedisClientTest, BackoffFailsFastAfterAFailedConnect) {
  redis::Client client(
      {.host = "127.0.0.1", .port = 1, .connect_timeout = absl::Milliseconds(300)});
  EXPECT_TRUE(absl::IsUnavailable(client.Command({"PING"}).status()));
  auto second = client.Command({"PING"});  // within the backoff window
  EXPECT_TRUE(absl::IsUnavailable(second.status()));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("retrying in"));
}

TEST(RedisClientTest, CommandsPipelinesAndBinaryArguments) {
  POPQUEUE_REQUIRE_REDIS();
  auto client = RawClient();
  ASSERT_NE(client, nullptr);
  const std::string key = UniqueCollection("{client}:bin");
  const std::string value("a\0b\r\n%s \"'\xff", 11);
  ASSERT_TRUE(client->Command({"SET", key, value}).ok());
  auto got = client->Command({"GET", key});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->str, value);

  auto replies = client->Pipeline({{"INCR", key + "n"},
                                   {"INCR", key + "n"},
                                   {"HGET", key, "f"},  // WRONGTYPE, in place
                                   {"GET", key + "missing"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 4u);
  EXPECT_EQ((*replies)[1].integer, 2);
  EXPECT_TRUE((*replies)[2].is_error());
  EXPECT_TRUE((*replies)[3].is_nil());

  auto wrong = client->Command({"HGET", key, "f"});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("WRONGTYPE"));
  (void)client->Command({"DEL", key, key + "n"});
}

TEST(RedisClientTest, ScriptsSurviveScriptFlush) {
  POPQUEUE_REQUIRE_REDIS();
  auto client = RawClient();
  ASSERT_NE(client, nullptr);
  redis::Script script("return {KEYS[1], ARGV[1], #ARGV}");
  auto r = client->Eval(script, {"{k}:a"}, {"x", "y"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->elements.size(), 3u);
  EXPECT_EQ(r->elements[0].str, "{k}:a");
  EXPECT_EQ(r->elements[2].integer, 2);
  ASSERT_TRUE(client->Command({"SCRIPT", "FLUSH"}).ok());
  r = client->Eval(script, {"{k}:a"}, {"x"});  // NOSCRIPT -> load, retry
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->elements[2].integer, 1);
  redis::Script broken("return redis.call('NOSUCHCOMMAND')");
  EXPECT_EQ(client->Eval(broken, {}, {}).status().code(), absl::StatusCode::kInternal);
}

TEST(RedisClientTest, CommandTimeoutIsUnavailableAndThePoolRecovers) {
  POPQUEUE_REQUIRE_REDIS();
  auto options = redis::Options::FromUrl(*ParseUrl(RedisUrl()));
  ASSERT_TRUE(options.ok());
  options->command_timeout = absl::Milliseconds(200);
  auto client = redis::Client::Connect(*options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto slow = (*client)->Command({"BLPOP", UniqueCollection("{t}:none"), "2"});
  ASSERT_TRUE(absl::IsUnavailable(slow.status())) << slow.status();
  EXPECT_THAT(std::string(slow.status().message()), HasSubstr("no reply within"));
  EXPECT_TRUE((*client)->Command({"PING"}).ok());
}

TEST(RedisClientTest, PubSubReadReplyWaitsWithTimeout) {
  POPQUEUE_REQUIRE_REDIS();
  auto options = redis::Options::FromUrl(*ParseUrl(RedisUrl()));
  ASSERT_TRUE(options.ok());
  auto sub = redis::Connection::Open(*options);
  ASSERT_TRUE(sub.ok()) << sub.status();
  const std::string channel = UniqueCollection("chan");
  ASSERT_TRUE((*sub)->Send({"SUBSCRIBE", channel}).ok());
  auto confirm = (*sub)->ReadReply(absl::Seconds(5));
  ASSERT_TRUE(confirm.ok() && confirm->has_value());
  auto nothing = (*sub)->ReadReply(absl::Milliseconds(50));
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->has_value());
  auto client = RawClient();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Command({"PUBLISH", channel, "hello"}).ok());
  auto msg = (*sub)->ReadReply(absl::Seconds(5));
  ASSERT_TRUE(msg.ok() && msg->has_value());
  ASSERT_EQ((*msg)->elements.size(), 3u);
  EXPECT_EQ((*msg)->elements[2].str, "hello");
}

TEST(RedisClientTest, WrongPasswordIsPermissionDeniedWithoutThePassword) {
  POPQUEUE_REQUIRE_REDIS();
  auto url = ParseUrl(RedisUrl());
  ASSERT_TRUE(url.ok());
  url->password = "hunter2";
  auto client = redis::Client::Connect(*url);
  ASSERT_EQ(client.status().code(), absl::StatusCode::kPermissionDenied) << client.status();
  EXPECT_THAT(std::string(client.status().message()), Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace popqueue::testing
