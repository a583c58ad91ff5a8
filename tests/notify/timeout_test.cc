// Every notifier's attempt is bounded by its timeoutMs (CURLOPT_TIMEOUT_MS
// and CURLOPT_CONNECTTIMEOUT_MS) even when the endpoint never answers: a
// black-hole peer (a socket of the test) that accepts and stays silent, or
// never accepts. Needs no server, never skips.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "notify/email_notifier.h"
#include "notify/slack_notifier.h"
#include "notify/webhook_notifier.h"
#include "tests/support/black_hole.h"

namespace popqueue::notify {
namespace {

using ::popqueue::testing::BlackHole;
using ::popqueue::testing::Timed;

constexpr absl::Duration kTimeout = absl::Milliseconds(300);

DeliveryPolicy Policy() {
  return {.timeout = kTimeout,
          .max_attempts = 1,
          .backoff = absl::Milliseconds(1),
          .max_backoff = absl::Milliseconds(1)};
}

Notification Dead() {
  Notification n;
  n.event = kEventJobDead;
  n.delivery_id = "n-timeout-1";
  n.queue = "q";
  n.job_id = 1;
  n.job_name = "job";
  return n;
}

std::unique_ptr<Notifier> Webhook(const BlackHole& hole) {
  WebhookConfig c;
  c.url = absl::StrCat("http://", hole.HostPort(), "/hook");
  c.delivery = Policy();
  return std::make_unique<WebhookNotifier>(c);
}

std::unique_ptr<Notifier> Slack(const BlackHole& hole) {
  SlackConfig c;
  c.token = "xoxb-secret";
  c.channel = "#ops";
  c.api_base_url = absl::StrCat("http://", hole.HostPort(), "/api");
  c.delivery = Policy();
  return std::make_unique<SlackNotifier>(c);
}

std::unique_ptr<Notifier> Email(const BlackHole& hole, bool secure) {
  EmailConfig c;
  c.smtp.host = "127.0.0.1";
  c.smtp.port = hole.port();
  c.smtp.secure = secure;  // smtps: stuck in the TLS handshake
  c.from = "queue@example.com";
  c.to = {"ops@example.com"};
  c.delivery = Policy();
  return std::make_unique<EmailNotifier>(c);
}

void ExpectTimesOut(Notifier& notifier) {
  std::atomic<bool> abort{false};
  absl::Status s;
  absl::Duration took = Timed([&] { s = notifier.Send(Dead(), abort); });
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << notifier.channel() << ": " << s;
  EXPECT_TRUE(IsRetryable(s));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(::testing::HasSubstr("secret")));
  EXPECT_GE(took, kTimeout - absl::Milliseconds(20)) << notifier.channel();
  EXPECT_LT(took, absl::Seconds(2)) << notifier.channel();
}

TEST(NotifyTimeouts, SilentEndpointTimesOut) {
  BlackHole hole(BlackHole::Mode::kSilent);
  ExpectTimesOut(*Webhook(hole));
  ExpectTimesOut(*Slack(hole));
  ExpectTimesOut(*Email(hole, /*secure=*/false));  // no greeting
  ExpectTimesOut(*Email(hole, /*secure=*/true));
}

TEST(NotifyTimeouts, UnreachableEndpointTimesOut) {
  BlackHole hole(BlackHole::Mode::kNeverAccept);
  ExpectTimesOut(*Webhook(hole));
  ExpectTimesOut(*Slack(hole));
  ExpectTimesOut(*Email(hole, /*secure=*/false));
}

}  // namespace
}  // namespace popqueue::notify
