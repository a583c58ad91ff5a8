// Cron expressions: parsing and next fire time in a time zone.
//
// Accepted forms: 5 fields "min hour day-of-month month day-of-week", or 6
// with seconds first; each field a list of `*`, `N`, `A-B`, `*/S`, `A-B/S` or
// `A/S`; months JAN-DEC and days SUN-SAT by name (case-insensitive), Sunday
// as 0 or 7; and the macros @yearly @annually @monthly @weekly @daily
// @midnight @hourly. As in Vixie cron, when both day fields are restricted a
// day matches if either matches.
//
// Fire times are wall-clock times in the schedule's zone (IANA name, default
// UTC; Debian's tzdata through howardhinnant date/tz). Across DST changes: a
// wall-clock time skipped by a spring-forward gap fires at the end of the gap;
// a time repeated by a fall-back fires once, at its first occurrence.
#ifndef POPQUEUE_CORE_CRON_H_
#define POPQUEUE_CORE_CRON_H_

#include <bitset>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace date {
class time_zone;
}

namespace popqueue::core {

class CronSchedule {
 public:
  // InvalidArgument naming the bad field and what was expected, or the
  // unknown time zone.
  static absl::StatusOr<CronSchedule> Parse(std::string_view expression,
                                            std::string_view time_zone = "UTC");

  // The first fire time strictly after `after`. NotFound when the expression
  // can never fire (e.g. "0 0 30 2 *") within the search horizon.
  absl::StatusOr<absl::Time> Next(absl::Time after) const;

  const std::string& expression() const { return expression_; }
  const std::string& time_zone() const { return zone_name_; }

 private:
  CronSchedule() = default;

  std::string expression_;
  std::string zone_name_;
  const date::time_zone* zone_ = nullptr;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_any_ = true, weekdays_any_ = true;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_CRON_H_
