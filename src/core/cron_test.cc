#include "core/cron.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popqueue::core {
namespace {

using ::testing::HasSubstr;

absl::Time Utc(const char* s) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, s, &t, &err)) << err;
  return t;
}

std::string Fmt(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", t, absl::UTCTimeZone());
}

std::string NextOf(const char* expr, const char* after, const char* tz = "UTC") {
  auto c = CronSchedule::Parse(expr, tz);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return "";
  auto n = c->Next(Utc(after));
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? Fmt(*n) : "";
}

TEST(Cron, Basics) {
  EXPECT_EQ(NextOf("*/5 * * * *", "2026-01-01T10:02:00Z"), "2026-01-01T10:05:00+00:00");
  EXPECT_EQ(NextOf("*/5 * * * *", "2026-01-01T10:05:00Z"), "2026-01-01T10:10:00+00:00");
  EXPECT_EQ(NextOf("0 9 * * MON-FRI", "2026-11-27T10:00:00Z"), "2026-11-30T09:00:00+00:00");
  EXPECT_EQ(NextOf("30 4 1,15 * *", "2026-02-01T05:00:00Z"), "2026-02-15T04:30:00+00:00");
  EXPECT_EQ(NextOf("0 0 1 jan *", "2026-06-01T00:00:00Z"), "2027-01-01T00:00:00+00:00");
  EXPECT_EQ(NextOf("0 12 * * 7", "2026-11-27T00:00:00Z"), "2026-11-29T12:00:00+00:00");  // Sunday
  EXPECT_EQ(NextOf("10-20/5 * * * *", "2026-01-01T10:16:00Z"), "2026-01-01T10:20:00+00:00");
  EXPECT_EQ(NextOf("5/20 * * * *", "2026-01-01T10:06:00Z"), "2026-01-01T10:25:00+00:00");
}

TEST(Cron, SecondsField) {
  EXPECT_EQ(NextOf("*/10 * * * * *", "2026-01-01T10:00:01Z"), "2026-01-01T10:00:10+00:00");
  EXPECT_EQ(NextOf("30 0 12 * * *", "2026-01-01T12:00:31Z"), "2026-01-02T12:00:30+00:00");
}

TEST(Cron, Macros) {
  EXPECT_EQ(NextOf("@hourly", "2026-01-01T10:00:00Z"), "2026-01-01T11:00:00+00:00");
  EXPECT_EQ(NextOf("@daily", "2026-01-01T10:00:00Z"), "2026-01-02T00:00:00+00:00");
  EXPECT_EQ(NextOf("@weekly", "2026-11-27T10:00:00Z"), "2026-11-29T00:00:00+00:00");
  EXPECT_EQ(NextOf("@monthly", "2026-11-27T10:00:00Z"), "2026-12-01T00:00:00+00:00");
  EXPECT_EQ(NextOf("@yearly", "2026-11-27T10:00:00Z"), "2027-01-01T00:00:00+00:00");
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // The 13th, or any Friday.
  EXPECT_EQ(NextOf("0 0 13 * FRI", "2026-11-01T00:00:00Z"), "2026-11-06T00:00:00+00:00");
  EXPECT_EQ(NextOf("0 0 13 * FRI", "2026-11-10T00:00:00Z"), "2026-11-13T00:00:00+00:00");
}

TEST(Cron, TimeZones) {
  // 09:00 in Paris is 08:00 UTC in winter.
  EXPECT_EQ(NextOf("0 9 * * *", "2026-01-10T12:00:00Z", "Europe/Paris"),
            "2026-01-11T08:00:00+00:00");
  EXPECT_EQ(NextOf("0 9 * * *", "2026-07-10T12:00:00Z", "Europe/Paris"),
            "2026-07-11T07:00:00+00:00");
}

TEST(Cron, SpringForwardGapFiresAtTheEndOfTheGap) {
  // 2026-03-08 02:30 does not exist in New York: clocks jump 02:00 -> 03:00.
  EXPECT_EQ(NextOf("30 2 * * *", "2026-03-08T05:00:00Z", "America/New_York"),
            "2026-03-08T07:00:00+00:00");
  EXPECT_EQ(NextOf("30 2 * * *", "2026-03-08T07:00:00Z", "America/New_York"),
            "2026-03-09T06:30:00+00:00");
}

TEST(Cron, FallBackRepeatedTimeFiresOnce) {
  // 2026-11-01 01:30 happens twice in New York (EDT, then EST).
  auto c = CronSchedule::Parse("30 1 * * *", "America/New_York");
  ASSERT_TRUE(c.ok());
  absl::Time first = *c->Next(Utc("2026-11-01T04:00:00Z"));
  EXPECT_EQ(Fmt(first), "2026-11-01T05:30:00+00:00");            // 01:30 EDT
  EXPECT_EQ(Fmt(*c->Next(first)), "2026-11-02T06:30:00+00:00");  // next day, EST
}

TEST(Cron, ErrorsPointAtTheField) {
  EXPECT_THAT(CronSchedule::Parse("61 * * * *").status().message(),
              HasSubstr("cron field 1 (minute) \"61\": value out of range 0-59"));
  EXPECT_THAT(CronSchedule::Parse("* 24 * * *").status().message(), HasSubstr("field 2 (hour)"));
  EXPECT_THAT(CronSchedule::Parse("* * 0 * *").status().message(), HasSubstr("day of month"));
  EXPECT_THAT(CronSchedule::Parse("* * * FOO *").status().message(), HasSubstr("field 4 (month)"));
  EXPECT_THAT(CronSchedule::Parse("* * * * 8").status().message(), HasSubstr("day of week"));
  EXPECT_THAT(CronSchedule::Parse("*/0 * * * *").status().message(), HasSubstr("step"));
  EXPECT_THAT(CronSchedule::Parse("5-1 * * * *").status().message(), HasSubstr("after its end"));
  EXPECT_THAT(CronSchedule::Parse("* * * *").status().message(), HasSubstr("has 4 fields"));
  EXPECT_THAT(CronSchedule::Parse("@sometimes").status().message(),
              HasSubstr("unknown cron macro"));
  EXPECT_THAT(CronSchedule::Parse("1,,2 * * * *").status().message(), HasSubstr("empty list item"));
  EXPECT_THAT(CronSchedule::Parse("* * * * *", "Mars/Olympus").status().message(),
              HasSubstr("unknown time zone"));
  auto never = CronSchedule::Parse("0 0 30 2 *");
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->Next(absl::Now()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace popqueue::core
