// ParseNotifyConfig: the config.json shape, defaults, and errors that name
// the key without quoting secrets.
#include "notify/notify_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace popqueue::notify {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

absl::Status ErrorOf(const json& j) { return ParseNotifyConfig(j).status(); }

TEST(ParseNotifyConfig, ReadsTheOriginalReadmeShape) {
  json j = json::parse(R"({
    "webhook": {"url": "https://example.com/hook"},
    "email": {"smtpConfig": {"host": "smtp.example.com", "port": 587, "secure": false,
                             "auth": {"user": "u", "pass": "p"}},
              "from": "queue@example.com", "to": "ops@example.com"},
    "slack": {"token": "xoxb-1", "channel": "#ops"}
  })");
  absl::StatusOr<NotifyConfig> c = ParseNotifyConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->webhook && c->email && c->slack);
  EXPECT_EQ(c->webhook->url, "https://example.com/hook");
  EXPECT_EQ(c->webhook->events, std::set<std::string>{kEventJobDead});
  EXPECT_EQ(c->webhook->delivery.max_attempts, 3);
  EXPECT_EQ(c->email->smtp.host, "smtp.example.com");
  EXPECT_EQ(c->email->smtp.port, 587);
  EXPECT_FALSE(c->email->smtp.secure);
  EXPECT_TRUE(c->email->smtp.starttls);
  EXPECT_EQ(c->email->smtp.user, "u");
  EXPECT_EQ(c->email->smtp.password, "p");
  EXPECT_EQ(c->email->to, std::vector<std::string>{"ops@example.com"});
  EXPECT_EQ(c->slack->api_base_url, "https://slack.com/api");
  EXPECT_EQ(c->queue_capacity, 1000u);
  EXPECT_FALSE(c->backlog);
}

TEST(ParseNotifyConfig, ReadsEveryOption) {
  json j = json::parse(R"({
    "queueCapacity": 10,
    "backlog": {"threshold": 50, "clearThreshold": 20, "checkIntervalMs": 1000},
    "webhook": {"url": "http://127.0.0.1:9/x", "secret": "s", "caFile": "/ca.pem",
                "timeoutMs": 250, "maxAttempts": 5, "backoffMs": 10, "maxBackoffMs": 40,
                "events": ["job.dead", "job.failed", "queue.backlog"]},
    "email": {"smtpConfig": {"host": "h", "secure": true, "caFile": "/c.pem",
                             "insecureSkipVerify": true},
              "from": "a@b.c", "to": ["x@y.z", "p@q.r"], "subjectPrefix": "[prod]"},
    "slack": {"token": "t", "channel": "C1", "apiBaseUrl": "http://127.0.0.1:1/api/"}
  })");
  absl::StatusOr<NotifyConfig> c = ParseNotifyConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->queue_capacity, 10u);
  ASSERT_TRUE(c->backlog);
  EXPECT_EQ(c->backlog->threshold, 50);
  EXPECT_EQ(c->backlog->clear_level(), 20);
  EXPECT_EQ(c->backlog->check_interval, absl::Seconds(1));
  EXPECT_EQ(c->webhook->delivery.timeout, absl::Milliseconds(250));
  EXPECT_EQ(c->webhook->delivery.max_attempts, 5);
  EXPECT_EQ(c->webhook->delivery.backoff, absl::Milliseconds(10));
  EXPECT_EQ(c->webhook->delivery.max_backoff, absl::Milliseconds(40));
  EXPECT_EQ(c->webhook->events.size(), 3u);
  EXPECT_EQ(c->email->smtp.port, 465);  // implicit TLS default
  EXPECT_TRUE(c->email->smtp.insecure_skip_verify);
  EXPECT_EQ(c->email->to.size(), 2u);
  EXPECT_EQ(c->slack->api_base_url, "http://127.0.0.1:1/api");  // trailing '/' trimmed
}

TEST(ParseNotifyConfig, NullOrEmptyMeansNoChannel) {
  absl::StatusOr<NotifyConfig> c = ParseNotifyConfig(json());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
  c = ParseNotifyConfig(json::object());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
}

TEST(ParseNotifyConfig, ErrorsNameTheKey) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"webhook": {"url": "ftp://x"}})")).message(),
            "notificationConfig.webhook.url: expected an http(s) URL");
  EXPECT_EQ(ErrorOf(json::parse(R"({"webhook": {}})")).message(),
            "notificationConfig.webhook.url: expected a string (required)");
  EXPECT_EQ(ErrorOf(json::parse(R"({"webhook": {"url": "http://h", "maxAttempts": 0}})")).message(),
            "notificationConfig.webhook.maxAttempts: expected an integer from 1 to 100");
  EXPECT_THAT(
      ErrorOf(json::parse(R"({"webhook": {"url": "http://h", "events": ["job.done"]}})")).message(),
      HasSubstr("notificationConfig.webhook.events: unknown event \"job.done\""));
  EXPECT_THAT(ErrorOf(json::parse(R"({"webhok": {}})")).message(),
              HasSubstr("notificationConfig.webhok: unknown key"));
  EXPECT_EQ(ErrorOf(json::parse(R"({"email": {"from": "a@b.c", "to": "d@e.f"}})")).message(),
            "notificationConfig.email.smtpConfig: expected an object (required)");
  EXPECT_EQ(ErrorOf(json::parse(
                        R"({"email": {"smtpConfig": {"host": "h", "port": 70000}, "from": "a@b.c",
                              "to": "d@e.f"}})"))
                .message(),
            "notificationConfig.email.smtpConfig.port: expected an integer from 1 to 65535");
  EXPECT_THAT(
      ErrorOf(json::parse(R"({"email": {"smtpConfig": {"host": "h"}, "from": "a@b.c", "to": []}})"))
          .message(),
      HasSubstr("notificationConfig.email.to: expected at least one address"));
  EXPECT_EQ(ErrorOf(json::parse(R"({"slack": {"token": "t"}})")).message(),
            "notificationConfig.slack.channel: expected a string (required)");
  EXPECT_THAT(ErrorOf(json::parse(R"({"backlog": {"threshold": 5},
                                      "webhook": {"url": "http://h"}})"))
                  .message(),
              HasSubstr("no channel lists \"queue.backlog\""));
  EXPECT_EQ(ErrorOf(json::parse(R"({"backlog": {"threshold": 5, "clearThreshold": 6},
                                    "webhook": {"url": "http://h", "events": ["queue.backlog"]}})"))
                .message(),
            "notificationConfig.backlog.clearThreshold: expected an integer from 0 to 5");
  EXPECT_EQ(ErrorOf(json::parse(R"([1])")).message(), "notificationConfig: expected an object");
}

TEST(ParseNotifyConfig, ErrorsNeverQuoteSecrets) {
  for (const char* text : {
           R"({"webhook": {"url": "TOPSECRET", "secret": "TOPSECRET"}})",
           R"({"webhook": {"url": "http://h", "secret": ["TOPSECRET"]}})",
           R"({"slack": {"token": "TOPSECRET", "channel": 5}})",
           R"({"email": {"smtpConfig": {"host": "h", "auth": {"user": "u", "pass": 7}},
               "from": "a@b.c", "to": "d@e.f"}})",
       }) {
    absl::Status s = ErrorOf(json::parse(text));
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("TOPSECRET")));
  }
}

}  // namespace
}  // namespace popqueue::notify
