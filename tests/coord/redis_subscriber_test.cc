// The Redis wake-up subscriber against peers that stop answering: one that
// never confirms SUBSCRIBE, one that confirms and then hangs (only PING finds
// it), and the real server (nothing regresses: PINGs are answered, messages
// delivered, no spurious reconnect). The fake peers are sockets of the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"
#include "coord/redis/redis_subscriber.h"
#include "gtest/gtest.h"
#include "tests/coord/coord_conformance.h"
#include "tests/support/black_hole.h"

namespace popqueue::coord {
namespace {

using ::popqueue::testing::BlackHole;
using ::popqueue::testing::Timed;

// A stand-in for Redis on 127.0.0.1 that answers each connection's SUBSCRIBE
// with its confirmation, then never answers anything again: a server that
// hangs after the subscription was made. Counts the SUBSCRIBEs it saw.
class MuteAfterSubscribe {
 public:
  explicit MuteAfterSubscribe(std::string channel) : channel_(std::move(channel)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    EXPECT_EQ(pipe(stop_fds_), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~MuteAfterSubscribe() {
    char b = 1;
    (void)!write(stop_fds_[1], &b, 1);
    thread_.join();
    for (const Conn& c : conns_) close(c.fd);
    for (int fd : stop_fds_) close(fd);
    close(listen_fd_);
  }

  std::string Url(int timeout_ms) const {
    return absl::StrCat("redis://127.0.0.1:", port_, "?timeout_ms=", timeout_ms);
  }
  // Waits (signalled, bounded) until `n` SUBSCRIBEs were confirmed.
  bool WaitForSubscribes(int n, absl::Duration timeout) {
    MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return subscribes_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

 private:
  struct Conn {
    int fd;
    std::string in;
    bool confirmed = false;
  };

  void Serve() {
    while (true) {
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {stop_fds_[0], POLLIN, 0}};
      for (const Conn& c : conns_) fds.push_back({c.fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0) {
        int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd >= 0) conns_.push_back({.fd = fd});
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Conn& c = conns_[i - 2];
        char buf[512];
        ssize_t n = read(c.fd, buf, sizeof(buf));
        if (n <= 0) continue;  // closed by the client: kept until the end
        c.in.append(buf, static_cast<size_t>(n));
        if (!c.confirmed && c.in.find("SUBSCRIBE") != std::string::npos) {
          c.confirmed = true;
          std::string reply = absl::StrCat("*3\r\n$9\r\nsubscribe\r\n$", channel_.size(), "\r\n",
                                           channel_, "\r\n:1\r\n");
          EXPECT_EQ(write(c.fd, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
          MutexLock lock(&mu_);
          ++subscribes_;
        }
      }
    }
  }

  const std::string channel_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_fds_[2] = {-1, -1};
  std::vector<Conn> conns_;  // only the serving thread touches it
  std::thread thread_;
  Mutex mu_;
  int subscribes_ ABSL_GUARDED_BY(mu_) = 0;
};

// Records the queues a subscriber delivers.
class Recorder {
 public:
  void On(const std::string& queue) {
    MutexLock lock(&mu_);
    seen_.push_back(queue);
  }
  bool WaitFor(const std::string& queue, absl::Duration timeout) {
    MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(seen_.begin(), seen_.end(), queue) != seen_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  }
  std::vector<std::string> seen() {
    MutexLock lock(&mu_);
    return seen_;
  }

 private:
  Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

// A client that has not talked to the server yet (Client::Connect would
// PING, which the fake peers never answer).
std::shared_ptr<redis::Client> ClientFor(const std::string& url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return nullptr;
  absl::StatusOr<redis::Options> options = redis::Options::FromUrl(*parsed);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? std::make_shared<redis::Client>(*options) : nullptr;
}

// A peer that accepts and never answers never confirms the subscription:
// nothing is delivered (no false "reconnected" signal) and stopping is
// prompt.
TEST(RedisSubscriber, SilentPeerIsNeverTakenForASubscription) {
  BlackHole hole(BlackHole::Mode::kSilent);
  auto client = ClientFor(absl::StrCat("redis://", hole.HostPort(), "?timeout_ms=200"));
  ASSERT_NE(client, nullptr);
  Recorder rec;
  auto sub = std::make_unique<RedisSubscriber>(client, "wake");
  sub->Add([&](const std::string& q) { rec.On(q); });
  // Long enough for several unconfirmed attempts (200 ms each).
  absl::SleepFor(absl::Seconds(1));
  absl::Duration stop_took = Timed([&] { sub.reset(); });
  EXPECT_TRUE(rec.seen().empty());
  EXPECT_LT(stop_took, absl::Milliseconds(500));
}

// Subscribed, then the server hangs (its host still acknowledges TCP):
// the unanswered PING ends the connection, the subscriber subscribes again
// and signals possibly lost wake-ups with queue "".
TEST(RedisSubscriber, HungServerIsFoundByPingAndReported) {
  MuteAfterSubscribe peer("wake");
  auto client = ClientFor(peer.Url(/*timeout_ms=*/300));
  ASSERT_NE(client, nullptr);
  Recorder rec;
  RedisSubscriber sub(client, "wake", /*ping_interval=*/absl::Milliseconds(200));
  absl::Time start = absl::Now();
  sub.Add([&](const std::string& q) { rec.On(q); });
  ASSERT_TRUE(peer.WaitForSubscribes(1, absl::Seconds(5)));
  // Found within ping_interval + timeout_ms (500 ms) after subscribing.
  ASSERT_TRUE(rec.WaitFor("", absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(peer.WaitForSubscribes(2, absl::Seconds(1)));
}

// The real server answers every PING: messages flow and no reconnect (no
// "") happens however many PINGs go by.
TEST(RedisSubscriber, RealServerAnswersPingsAndDeliversMessages) {
  std::string var = "POPQUEUE_TEST_REDIS_URL";
  POPQUEUE_REQUIRE_URL(var);
  auto client = ClientFor(testing::EnvOr(var.c_str()));
  ASSERT_NE(client, nullptr);
  std::string channel = testing::UniqueNamespace("sub");
  Recorder rec;
  RedisSubscriber sub(client, channel, /*ping_interval=*/absl::Milliseconds(50));
  sub.Add([&](const std::string& q) { rec.On(q); });
  // Publishes until the subscription is up (a message sent before is lost).
  bool delivered = false;
  for (int i = 0; i < 50 && !delivered; ++i) {
    auto r = client->Command({"PUBLISH", channel, "q1"});
    ASSERT_TRUE(r.ok()) << r.status();
    delivered = rec.WaitFor("q1", absl::Milliseconds(100));
  }
  ASSERT_TRUE(delivered);
  absl::SleepFor(absl::Milliseconds(500));  // ~10 PINGs answered meanwhile
  auto r = client->Command({"PUBLISH", channel, "q2"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->integer, 1);  // still subscribed on the same connection
  EXPECT_TRUE(rec.WaitFor("q2", absl::Seconds(2)));
  for (const std::string& q : rec.seen()) EXPECT_NE(q, "") << "spurious reconnect";
}

}  // namespace
}  // namespace popqueue::coord
