// SlackNotifier against a local HTTP server standing in for the Web API at
// the configured apiBaseUrl.
#include "notify/slack_notifier.h"

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

constexpr char kToken[] = "xoxb-SLACKTOKEN-123";

Notification DeadJob() {
  Notification n;
  n.event = kEventJobDead;
  n.delivery_id = "n-slack-1";
  n.queue = "default";
  n.job_id = 77;
  n.job_name = "resize";
  n.data = "PAYLOAD-NOT-FOR-SLACK";
  n.attempt = 3;
  n.max_attempts = 3;
  n.error = "image too large";
  return n;
}

std::unique_ptr<Dispatcher> SlackDispatcher(const TestHttpServer& server) {
  SlackConfig s;
  s.token = kToken;
  s.channel = "#ops";
  s.api_base_url = server.Url("/api");
  s.delivery = {.timeout = absl::Seconds(5),
                .max_attempts = 3,
                .backoff = absl::Milliseconds(10),
                .max_backoff = absl::Milliseconds(100)};
  NotifyConfig c;
  c.slack = s;
  absl::StatusOr<std::unique_ptr<Dispatcher>> d = Dispatcher::Create(c);
  EXPECT_TRUE(d.ok()) << d.status();
  return *std::move(d);
}

void Reply(httplib::Response& res, const std::string& json) {
  res.status = 200;
  res.set_content(json, "application/json");
}

TEST(Slack, PostsMessageWithBearerToken) {
  TestHttpServer server([](int, const httplib::Request&, httplib::Response& res) {
    Reply(res, R"({"ok": true, "channel": "C1", "ts": "1.2"})");
  });
  auto dispatcher = SlackDispatcher(server);
  EXPECT_EQ(dispatcher->Publish(DeadJob()), 1);
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(dispatcher->counters().sent, 1);

  ASSERT_EQ(server.requests().size(), 1u);
  const testing::RecordedRequest r = server.requests()[0];
  EXPECT_EQ(r.path, "/api/chat.postMessage");
  EXPECT_EQ(r.Header("Authorization"), std::string("Bearer ") + kToken);
  EXPECT_THAT(r.Header("Content-Type"), HasSubstr("application/json"));
  nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["channel"], "#ops");
  std::string text = body["text"];
  EXPECT_THAT(text, HasSubstr("job 77 (resize) is dead after 3 attempts on queue default"));
  EXPECT_THAT(text, HasSubstr("error: image too large"));
  EXPECT_THAT(text, Not(HasSubstr("PAYLOAD-NOT-FOR-SLACK")));
}

TEST(Slack, OkFalseWithHttp200IsAFailure) {
  SetLogLevel(LogLevel::kDebug);
  TestHttpServer server([](int, const httplib::Request&, httplib::Response& res) {
    Reply(res, R"({"ok": false, "error": "channel_not_found"})");
  });
  auto dispatcher = SlackDispatcher(server);
  ::testing::internal::CaptureStderr();
  dispatcher->Publish(DeadJob());
  bool idle = dispatcher->WaitIdle(absl::Seconds(10));
  std::string logs = ::testing::internal::GetCapturedStderr();
  SetLogLevel(LogLevel::kInfo);
  ASSERT_TRUE(idle);

  NotifyCounters c = dispatcher->counters();
  EXPECT_EQ(c.sent, 0);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.retried, 0);  // permanent: not retried
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_THAT(logs, HasSubstr("slack gave up on job.dead n-slack-1"));
  EXPECT_THAT(logs, HasSubstr("channel_not_found"));
  EXPECT_THAT(logs, Not(HasSubstr("SLACKTOKEN")));
}

TEST(Slack, RateLimitedIsRetried) {
  TestHttpServer server([](int index, const httplib::Request&, httplib::Response& res) {
    if (index == 0) {
      Reply(res, R"({"ok": false, "error": "ratelimited"})");
    } else {
      Reply(res, R"({"ok": true})");
    }
  });
  auto dispatcher = SlackDispatcher(server);
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(dispatcher->counters().sent, 1);
  EXPECT_EQ(dispatcher->counters().retried, 1);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(Slack, AnswerWithoutOkIsRetriedThenFailed) {
  TestHttpServer server([](int, const httplib::Request&, httplib::Response& res) {
    Reply(res, "<html>gateway</html>");
  });
  auto dispatcher = SlackDispatcher(server);
  dispatcher->Publish(DeadJob());
  ASSERT_TRUE(dispatcher->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(dispatcher->counters().failed, 1);
  EXPECT_EQ(server.requests().size(), 3u);
}

}  // namespace
}  // namespace popqueue::notify
