// Timeouts of the Redis client (store and coordinator): against a black-hole
// peer, a socket of the test, so no redis-server is needed and nothing skips.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/redis/redis_client.h"
#include "common/url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/black_hole.h"

namespace popqueue::redis {
namespace {

using ::popqueue::testing::BlackHole;
using ::popqueue::testing::Timed;
using ::testing::HasSubstr;

Options MustParse(const std::string& url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<Options> o = Options::FromUrl(*parsed);
  EXPECT_TRUE(o.ok()) << o.status();
  return o.ok() ? *o : Options();
}

TEST(RedisTimeouts, DefaultsAndUrlOverrides) {
  Options d = MustParse("redis://h:6379");
  EXPECT_EQ(d.connect_timeout, absl::Seconds(2));
  EXPECT_EQ(d.command_timeout, absl::Seconds(5));
  EXPECT_EQ(d.keepalive, absl::Seconds(15));
  Options o = MustParse("redis://h:6379?connect_timeout_ms=100&timeout_ms=250&keepalive_s=6");
  EXPECT_EQ(o.connect_timeout, absl::Milliseconds(100));
  EXPECT_EQ(o.command_timeout, absl::Milliseconds(250));
  EXPECT_EQ(o.keepalive, absl::Seconds(6));
  for (const char* q : {"keepalive_s=0", "timeout_ms=x", "connect_timeout_ms=-1"}) {
    absl::StatusOr<Url> url = ParseUrl(absl::StrCat("redis://h?", q));
    ASSERT_TRUE(url.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(Options::FromUrl(*url).status())) << q;
  }
}

TEST(RedisTimeouts, SilentServerFailsConnectWithinCommandTimeout) {
  BlackHole hole(BlackHole::Mode::kSilent);
  for (const char* auth : {"", ":secret@"}) {  // PING, then AUTH first
    absl::StatusOr<Url> url = ParseUrl(
        absl::StrCat("redis://", auth, hole.HostPort(), "?connect_timeout_ms=300&timeout_ms=500"));
    ASSERT_TRUE(url.ok());
    absl::Status s;
    absl::Duration took = Timed([&] { s = Client::Connect(*url).status(); });
    EXPECT_TRUE(absl::IsUnavailable(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr("no reply within 500ms"));
    EXPECT_THAT(s.message(), HasSubstr(hole.HostPort()));
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("secret")));
    EXPECT_GE(took, absl::Milliseconds(450));
    EXPECT_LT(took, absl::Seconds(3));
  }
}

TEST(RedisTimeouts, UnreachableServerFailsWithinConnectTimeout) {
  BlackHole hole(BlackHole::Mode::kNeverAccept);
  absl::StatusOr<Url> url = ParseUrl(
      absl::StrCat("redis://", hole.HostPort(), "?connect_timeout_ms=300&timeout_ms=5000"));
  ASSERT_TRUE(url.ok());
  absl::Status s;
  absl::Duration took = Timed([&] { s = Client::Connect(*url).status(); });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot connect to Redis"));
  EXPECT_LT(took, absl::Seconds(3));
}

// A command on a pooled connection whose server stops answering.
TEST(RedisTimeouts, CommandOnSilentServerTimesOutAndBreaksTheConnection) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::StatusOr<Url> url = ParseUrl(absl::StrCat("redis://", hole.HostPort(), "?timeout_ms=300"));
  ASSERT_TRUE(url.ok());
  absl::StatusOr<Options> options = Options::FromUrl(*url);
  ASSERT_TRUE(options.ok());
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(*options);
  ASSERT_TRUE(conn.ok()) << conn.status();  // no AUTH/SELECT: nothing sent
  absl::Status s;
  absl::Duration took = Timed([&] {
    s = (*conn)->Pipeline({{"SET", "k", "v"}, {"GET", "k"}}).status();
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_TRUE((*conn)->broken());
}

// Pub/sub waits for messages for as long as it takes: reads time out into
// "nothing yet" without breaking the connection, and keepalives (not a read
// timeout) are what find a dead peer.
TEST(RedisTimeouts, SubscriberToleratesIdlenessAndHasKeepalives) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::StatusOr<Url> url =
      ParseUrl(absl::StrCat("redis://", hole.HostPort(), "?timeout_ms=300&keepalive_s=9"));
  ASSERT_TRUE(url.ok());
  auto client = std::make_shared<Client>(*Options::FromUrl(*url));
  absl::StatusOr<std::unique_ptr<Connection>> conn = client->OpenDedicated();
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Send({"SUBSCRIBE", "wake"}).ok());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::optional<Reply>> r =
        (*conn)->ReadReply(absl::Milliseconds(400));  // > timeout_ms
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->has_value());
    EXPECT_FALSE((*conn)->broken());
  }
  std::vector<int> fds = hole.ClientFds();
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(BlackHole::SocketOption(fds[0], SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(BlackHole::SocketOption(fds[0], IPPROTO_TCP, TCP_KEEPIDLE), 9);
  EXPECT_EQ(BlackHole::SocketOption(fds[0], IPPROTO_TCP, TCP_KEEPINTVL), 3);
  EXPECT_EQ(BlackHole::SocketOption(fds[0], IPPROTO_TCP, TCP_KEEPCNT), 3);
}

}  // namespace
}  // namespace popqueue::redis
