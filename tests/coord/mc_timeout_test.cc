// Timeouts of the memcached client: against a black-hole peer (a socket of
// the test), so no memcached is needed and nothing skips.
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "coord/memcached/mc_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/black_hole.h"

namespace popqueue::coord::mc {
namespace {

using ::popqueue::testing::BlackHole;
using ::popqueue::testing::Timed;
using ::testing::HasSubstr;

TEST(MemcachedTimeouts, SilentServerFailsConnectWithinTimeout) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::Status s;
  absl::Duration took = Timed([&] {
    s = Client::Connect(
            absl::StrCat("memcached://", hole.HostPort(), "?connect_timeout_ms=300&timeout_ms=300"))
            .status();
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(hole.HostPort()));
  EXPECT_LT(took, absl::Seconds(3));
}

TEST(MemcachedTimeouts, UnreachableServerFailsWithinConnectTimeout) {
  BlackHole hole(BlackHole::Mode::kNeverAccept);
  absl::Status s;
  absl::Duration took = Timed([&] {
    s = Client::Connect(absl::StrCat("memcached://", hole.HostPort(), "?connect_timeout_ms=300"))
            .status();
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_LT(took, absl::Seconds(3));
}

// The defaults (1 s) bound a silent server too.
TEST(MemcachedTimeouts, DefaultsBoundASilentServer) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::Status s;
  absl::Duration took =
      Timed([&] { s = Client::Connect(absl::StrCat("memcached://", hole.HostPort())).status(); });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(MemcachedTimeouts, BadOptionsAreInvalidArgument) {
  for (const char* q :
       {"timeout_ms=0", "timeout_ms=soon", "connect_timeout_ms=", "read_timeout=5"}) {
    absl::Status s = Client::Connect(absl::StrCat("memcached://127.0.0.1:1?", q)).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << q << ": " << s;
  }
}

}  // namespace
}  // namespace popqueue::coord::mc
