// Timeouts of the MongoDB store: against a black-hole peer (a socket of the
// test), so no MongoDB is needed and nothing skips. Opening a store selects
// a server, which waits at most serverSelectionTimeoutMS; each connection
// attempt (TCP and the hello handshake) at most connectTimeoutMS.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/support/black_hole.h"

namespace popqueue::store {
namespace {

using ::popqueue::testing::BlackHole;
using ::popqueue::testing::Timed;
using ::testing::HasSubstr;

absl::Status OpenStatus(const std::string& url) {
  return OpenStore(StoreConfig{.url = url, .db_name = "popqueue_timeouts", .collection = "jobs"})
      .status();
}

TEST(MongoTimeouts, SilentServerFailsOpenWithinUrlTimeouts) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::Status s;
  absl::Duration took = Timed([&] {
    s = OpenStatus(absl::StrCat("mongodb://u:secret@", hole.HostPort(),
                                "/?serverSelectionTimeoutMS=500&"
                                "connectTimeoutMS=300"));
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("secret")));
  EXPECT_GE(took, absl::Milliseconds(450));   // the URL's value, not 0
  EXPECT_LT(took, absl::Milliseconds(1900));  // ... nor the 2 s default
}

TEST(MongoTimeouts, UnreachableServerFailsOpenWithinUrlTimeouts) {
  BlackHole hole(BlackHole::Mode::kNeverAccept);
  absl::Status s;
  absl::Duration took = Timed([&] {
    s = OpenStatus(absl::StrCat("mongodb://", hole.HostPort(),
                                "/?serverSelectionTimeoutMS=500&"
                                "connectTimeoutMS=300"));
  });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_LT(took, absl::Seconds(3));
}

// Without options the defaults (serverSelectionTimeoutMS=2000,
// connectTimeoutMS=2000) bound the wait; libmongoc's own would be 30 s / 10 s.
TEST(MongoTimeouts, DefaultsBoundASilentServer) {
  BlackHole hole(BlackHole::Mode::kSilent);
  absl::Status s;
  absl::Duration took = Timed([&] { s = OpenStatus(absl::StrCat("mongodb://", hole.HostPort())); });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_GE(took, absl::Milliseconds(1900));
  EXPECT_LT(took, absl::Seconds(5));
}

}  // namespace
}  // namespace popqueue::store
