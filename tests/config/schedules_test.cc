// config.json's "schedules" (src/config/schedules.h): every field read, the
// key as identity and default job name, and errors that name the field.
#include "config/schedules.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace popqueue::config {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

TEST(ParseSchedules, ReadsEveryField) {
  auto parsed = ParseSchedules(json::parse(R"({
    "nightly": {"cron": "0 3 * * *", "timeZone": "Europe/Berlin", "name": "report",
                "data": {"kind": "daily"}, "queue": "reports", "priority": 5,
                "maxAttempts": 2, "timeout": "10m", "missed": "runOnce",
                "catchUpWindow": 3600000, "identifier": "nightly-report",
                "metadata": {"tenant": "acme"}},
    "tick": {"cron": "@hourly", "data": "plain text"}
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  const ScheduleDecl& n = (*parsed)[0];
  EXPECT_EQ(n.options.schedule_id, "nightly");
  EXPECT_EQ(n.name, "report");
  EXPECT_EQ(n.cron, "0 3 * * *");
  EXPECT_EQ(n.data, R"({"kind":"daily"})");
  EXPECT_EQ(n.options.time_zone, "Europe/Berlin");
  EXPECT_EQ(n.options.job.queue, "reports");
  EXPECT_EQ(n.options.job.priority, 5);
  EXPECT_EQ(n.options.job.max_attempts, 2);
  EXPECT_EQ(n.options.job.timeout, absl::Minutes(10));
  EXPECT_EQ(n.options.job.identifier, "nightly-report");
  EXPECT_EQ(n.options.missed, MissedFires::kRunOnce);
  EXPECT_EQ(n.options.catch_up_window, absl::Hours(1));
  EXPECT_EQ(n.options.job.metadata, (JobMetadata{{"tenant", "acme"}}));
  const ScheduleDecl& t = (*parsed)[1];
  EXPECT_EQ(t.name, "tick");  // the key
  EXPECT_EQ(t.data, "plain text");
  EXPECT_EQ(t.options.time_zone, "UTC");
  EXPECT_EQ(t.options.missed, MissedFires::kSkip);
}

TEST(ParseSchedules, NullIsNone) {
  auto parsed = ParseSchedules(json());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->empty());
}

TEST(ParseSchedules, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {R"([1])", "schedules: expected an object of schedules by id"},
      {R"({"a": 1})", "schedules.a: expected an object with \"cron\""},
      {R"({"a": {}})", "schedules.a.cron: expected a cron expression (required)"},
      {R"({"a": {"cron": "61 * * * *"}})", "schedules.a: cron field 1 (minute)"},
      {R"({"a": {"cron": "* * * * *", "timeZone": "Mars/Olympus"}})", "schedules.a: "},
      {R"({"a": {"cron": "* * * * *", "missed": "always"}})",
       "schedules.a.missed: expected \"skip\" or \"runOnce\""},
      {R"({"a": {"cron": "* * * * *", "timeout": "soon"}})", "schedules.a.timeout: expected"},
      {R"({"a": {"cron": "* * * * *", "maxAttempts": 0}})", "schedules.a.maxAttempts: expected"},
      {R"({"a": {"cron": "* * * * *", "queue": ""}})", "schedules.a.queue: expected"},
      {R"({"a": {"cron": "* * * * *", "colour": "red"}})", "schedules.a.colour: unknown field"},
      {R"({"a": {"cron": "* * * * *", "metadata": ["x"]}})",
       "schedules.a.metadata: expected an object of strings"},
      {R"({"a": {"cron": "* * * * *", "metadata": {"n": 1}}})",
       "schedules.a.metadata.n: expected a string"},
      {R"({"a": {"cron": "* * * * *", "metadata": {"bad key": "x"}}})",
       "schedules.a.metadata: key \"bad key\""},
  };
  for (const Case& c : cases) {
    auto parsed = ParseSchedules(json::parse(c.text));
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message)) << c.text;
  }
}

}  // namespace
}  // namespace popqueue::config
