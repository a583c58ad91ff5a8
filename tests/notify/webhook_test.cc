// WebhookNotifier through a Dispatcher against a real HTTP server on
// 127.0.0.1: JSON body, HMAC signature, retries with backoff, timeouts,
// giving up, and dropping when the bounded queue is full.
#include "notify/webhook_notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "notify/notifier.h"
#include "tests/notify/test_http_server.h"

namespace popqueue::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestHttpServer;

constexpr char kSecret[] = "webhook-secret-42";

// Computed here with OpenSSL directly, independently of notify/hmac.cc.
std::string ExpectedSignature(const std::string& timestamp, const std::string& body) {
  std::string message = timestamp + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret, sizeof(kSecret) - 1,
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return "sha256=" +
         absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), len));
}

Notification DeadJob() {
  Notification n;
  n.event = kEventJobDead;
  n.delivery_id = "n-test-1";
  n.at = absl::FromUnixSeconds(1800000000);
  n.queue = "mail";
  n.job_id = 1234567890123;
  n.job_name = "send-email";
  n.identifier = "welcome-42";
  n.data = R"({"to":"a@b.c"})";
  n.attempt = 4;
  n.max_attempts = 4;
  n.error = "SMTP 550";
  return n;
}

NotifyConfig WebhookConfigFor(const std::string& url) {
  WebhookConfig w;
  w.url = url;
  w.secret = kSecret;
  w.delivery = {.timeout = absl::Seconds(5),
                .max_attempts = 3,
                .backoff = absl::Milliseconds(50),
                .max_backoff = absl::Seconds(1)};
  w.events = {kEventJobDead, kEventJobFailed};
  NotifyConfig c;
  c.webhook = w;
  return c;
}

std::unique_ptr<Dispatcher> MustCreate(const NotifyConfig& config) {
  absl::StatusOr<std::unique_ptr<Dispatcher>> d = Dispatcher::Create(config);
  EXPECT_TRUE(d.ok()) << d.status();
  return *std::move(d);
}

TEST(Webhook, PostsSignedJson) {
  TestHttpServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 204; });
  auto dispatcher = MustCreate(WebhookConfigFor(server.Url("/hooks/popqueue")));
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 1);
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(dispatcher->counters().sent, 1);

  ASSERT_EQ(server.requests().size(), 1u);
  const testing::RecordedRequest r = server.requests()[0];
  EXPECT_EQ(r.path, "/hooks/popqueue");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.Header(kEventHeader), "job.dead");
  EXPECT_EQ(r.Header(kDeliveryHeader), "n-test-1");
  std::string timestamp = r.Header(kTimestampHeader);
  int64_t ts = std::stoll(timestamp);
  EXPECT_NEAR(static_cast<double>(ts), static_cast<double>(absl::ToUnixSeconds(absl::Now())), 60);
  EXPECT_EQ(r.Header(kSignatureHeader), ExpectedSignature(timestamp, r.body));

  nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["event"], "job.dead");
  EXPECT_EQ(body["deliveryId"], "n-test-1");
  EXPECT_EQ(body["at"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(body["queue"], "mail");
  EXPECT_EQ(body["job"]["id"], "1234567890123");
  EXPECT_EQ(body["job"]["name"], "send-email");
  EXPECT_EQ(body["job"]["identifier"], "welcome-42");
  EXPECT_EQ(body["job"]["data"], R"({"to":"a@b.c"})");
  EXPECT_EQ(body["job"]["attempt"], 4);
  EXPECT_EQ(body["job"]["maxAttempts"], 4);
  EXPECT_EQ(body["job"]["error"], "SMTP 550");
  EXPECT_THAT(body["summary"].get<std::string>(), HasSubstr("is dead after 4 attempts"));
}

TEST(Webhook, UnsignedWithoutSecret) {
  TestHttpServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 200; });
  NotifyConfig config = WebhookConfigFor(server.Url());
  config.webhook->secret.clear();
  auto dispatcher = MustCreate(config);
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].Header(kSignatureHeader), "");
}

TEST(Webhook, RetriesWithBackoffUntilAccepted) {
  TestHttpServer server([](int index, const httplib::Request&, httplib::Response& res) {
    res.status = index < 2 ? 500 : 200;
  });
  auto dispatcher = MustCreate(WebhookConfigFor(server.Url()));
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));

  NotifyCounters c = dispatcher->counters();
  EXPECT_EQ(c.sent, 1);
  EXPECT_EQ(c.retried, 2);
  EXPECT_EQ(c.failed, 0);
  std::vector<testing::RecordedRequest> r = server.requests();
  ASSERT_EQ(r.size(), 3u);
  // The same delivery id on every attempt, so the receiver can deduplicate.
  for (const auto& req : r) EXPECT_EQ(req.Header(kDeliveryHeader), "n-test-1");
  // Backoff 50 ms, then doubled to 100 ms.
  EXPECT_GE(r[1].at - r[0].at, absl::Milliseconds(45));
  EXPECT_GE(r[2].at - r[1].at, absl::Milliseconds(95));
}

TEST(Webhook, GivesUpAfterMaxAttemptsAndLogsWithoutSecrets) {
  SetLogLevel(LogLevel::kDebug);
  TestHttpServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 503; });
  // A URL whose path holds a token, like Slack's incoming webhooks.
  auto dispatcher = MustCreate(WebhookConfigFor(server.Url("/services/PATHTOKEN")));
  ::testing::internal::CaptureStderr();
  dispatcher->Publish(DeadJob());
  bool idle = dispatcher->WaitIdle(absl::Seconds(10));
  std::string logs = ::testing::internal::GetCapturedStderr();
  SetLogLevel(LogLevel::kInfo);
  ASSERT_TRUE(idle);

  NotifyCounters c = dispatcher->counters();
  EXPECT_EQ(c.sent, 0);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.retried, 2);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_THAT(logs, HasSubstr("webhook gave up on job.dead n-test-1 after 3 attempts"));
  EXPECT_THAT(logs, HasSubstr("HTTP 503"));
  EXPECT_THAT(logs, Not(HasSubstr(kSecret)));
  EXPECT_THAT(logs, Not(HasSubstr("PATHTOKEN")));
}

TEST(Webhook, PermanentHttpErrorIsNotRetried) {
  TestHttpServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 410; });
  auto dispatcher = MustCreate(WebhookConfigFor(server.Url()));
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(dispatcher->counters().failed, 1);
  EXPECT_EQ(dispatcher->counters().retried, 0);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(Webhook, TimesOutOnHangingEndpoint) {
  TestHttpServer hanging(nullptr, /*hang=*/true);
  NotifyConfig config = WebhookConfigFor(hanging.Url());
  config.webhook->delivery.timeout = absl::Milliseconds(200);
  config.webhook->delivery.max_attempts = 2;
  auto dispatcher = MustCreate(config);
  absl::Time start = absl::Now();
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  absl::Duration took = absl::Now() - start;
  hanging.ReleaseHanging();

  NotifyCounters c = dispatcher->counters();
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.retried, 1);
  EXPECT_EQ(hanging.requests().size(), 2u);
  EXPECT_GE(took, absl::Milliseconds(400));  // two 200 ms timeouts
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(Webhook, FullQueueDropsAndShutdownAbortsAHangingAttempt) {
  TestHttpServer hanging(nullptr, /*hang=*/true);
  NotifyConfig config = WebhookConfigFor(hanging.Url());
  config.webhook->delivery.timeout = absl::Seconds(30);
  config.queue_capacity = 2;
  auto dispatcher = MustCreate(config);

  EXPECT_EQ(dispatcher->Publish(DeadJob()), 1);
  ASSERT_TRUE(hanging.WaitForRequests(1));  // now in flight, hanging
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 1);
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 1);
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 0);  // the queue holds 2
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 0);
  EXPECT_EQ(dispatcher->counters().dropped, 2);
  EXPECT_EQ(dispatcher->channel_counters()[0].queued, 2u);

  absl::Time start = absl::Now();
  dispatcher->Stop(absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  hanging.ReleaseHanging();
  NotifyCounters c = dispatcher->counters();
  EXPECT_EQ(c.dropped, 5);  // 2 refused, 1 aborted in flight, 2 left queued
  EXPECT_EQ(c.sent, 0);
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 0);  // stopped
}

TEST(Webhook, OnlyConfiguredEvents) {
  TestHttpServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 200; });
  NotifyConfig config = WebhookConfigFor(server.Url());
  config.webhook->events = {kEventJobDead};
  auto dispatcher = MustCreate(config);
  Notification failed = DeadJob();
  failed.event = kEventJobFailed;
  EXPECT_EQ(dispatcher->Publish(failed), 0);
  EXPECT_EQ(dispatcher->counters().dropped, 0);
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(1)));
  EXPECT_TRUE(server.requests().empty());
}

TEST(Webhook, UnreachableEndpointIsRetriedThenFailed) {
  int port;
  {
    TestHttpServer gone([](int, const httplib::Request&, httplib::Response&) {});
    port = gone.port();
  }  // closed: connections are refused
  NotifyConfig config = WebhookConfigFor("http://127.0.0.1:" + std::to_string(port) + "/hook");
  config.webhook->delivery.backoff = absl::Milliseconds(1);
  auto dispatcher = MustCreate(config);
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(dispatcher->counters().failed, 1);
  EXPECT_EQ(dispatcher->counters().retried, 2);
}

}  // namespace
}  // namespace popqueue::notify
