#include "core/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <cctype>
#include <chrono>
#include <exception>
#include <vector>

#include "absl/strings/str_format.h"

namespace popqueue::core {
namespace {

struct FieldSpec {
  const char* name;
  int min, max;
  const char* const* names;  // names for min.., or nullptr
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",  "JUL",
                                   "AUG", "SEP", "OCT", "NOV", "DEC", nullptr};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", nullptr};

const FieldSpec kSeconds{"second", 0, 59, nullptr};
const FieldSpec kMinutes{"minute", 0, 59, nullptr};
const FieldSpec kHours{"hour", 0, 23, nullptr};
const FieldSpec kDays{"day of month", 1, 31, nullptr};
const FieldSpec kMonths{"month", 1, 12, kMonthNames};
// 0-7: both 0 and 7 are Sunday.
const FieldSpec kWeekdays{"day of week", 0, 7, kDayNames};

std::vector<std::string> SplitOn(std::string_view s, char sep, bool skip_empty) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty() || !skip_empty) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty() || !skip_empty) out.push_back(cur);
  return out;
}

// Parses a number or (for months/days) a name; -1 when neither.
int ParseValue(const std::string& s, const FieldSpec& spec) {
  if (s.empty()) return -1;
  bool digits = true;
  for (char c : s) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) return s.size() > 4 ? -1 : std::stoi(s);
  if (spec.names == nullptr) return -1;
  std::string upper;
  for (char c : s) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  for (int i = 0; spec.names[i] != nullptr; ++i) {
    if (upper == spec.names[i]) return spec.min + i;
  }
  return -1;
}

// Sets the bits of `field` (index = value) for one cron field.
template <size_t N>
absl::Status ParseField(const std::string& text, const FieldSpec& spec, int index,
                        std::bitset<N>& bits, bool& any) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cron field %d (%s) \"%s\": %s", index, spec.name, text, why));
  };
  any = text == "*" || text == "?";
  for (const std::string& part : SplitOn(text, ',', false)) {
    if (part.empty()) return bad("empty list item");
    std::string range = part;
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string::npos) {
      range = part.substr(0, slash);
      std::string s = part.substr(slash + 1);
      step = ParseValue(s, FieldSpec{spec.name, 0, 0, nullptr});
      if (step < 1) return bad("step must be a positive number");
    }
    int lo, hi;
    if (range == "*" || range == "?") {
      lo = spec.min;
      hi = spec.max == 7 ? 6 : spec.max;
    } else if (size_t dash = range.find('-'); dash != std::string::npos) {
      lo = ParseValue(range.substr(0, dash), spec);
      hi = ParseValue(range.substr(dash + 1), spec);
      if (lo < 0 || hi < 0) return bad("expected A-B with numbers or names");
    } else {
      lo = ParseValue(range, spec);
      if (lo < 0) {
        return bad(spec.names ? "expected a number, a name, *, A-B or */S"
                              : "expected a number, *, A-B or */S");
      }
      hi = part.find('/') != std::string::npos ? (spec.max == 7 ? 6 : spec.max) : lo;
    }
    if (lo < spec.min || hi > spec.max || lo > spec.max || hi < spec.min) {
      return bad(absl::StrFormat("value out of range %d-%d", spec.min, spec.max));
    }
    if (lo > hi) return bad("range start is after its end");
    for (int v = lo; v <= hi; v += step) {
      size_t bit = spec.max == 7 && v == 7 ? 0 : static_cast<size_t>(v);  // 7 = Sunday
      bits.set(bit);
    }
  }
  return absl::OkStatus();
}

std::string ExpandMacro(std::string_view e) {
  if (e == "@yearly" || e == "@annually") return "0 0 1 1 *";
  if (e == "@monthly") return "0 0 1 * *";
  if (e == "@weekly") return "0 0 * * 0";
  if (e == "@daily" || e == "@midnight") return "0 0 * * *";
  if (e == "@hourly") return "0 * * * *";
  return std::string(e);
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expression,
                                                 std::string_view time_zone) {
  CronSchedule c;
  c.expression_ = std::string(expression);
  c.zone_name_ = time_zone.empty() ? "UTC" : std::string(time_zone);
  try {
    c.zone_ = date::locate_zone(c.zone_name_);
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown time zone \"%s\": expected an IANA name such as Europe/Paris", c.zone_name_));
  }
  std::string expanded = ExpandMacro(expression);
  if (!expanded.empty() && expanded[0] == '@') {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown cron macro \"%s\": expected @yearly, @annually, @monthly, @weekly, "
        "@daily, @midnight or @hourly",
        expanded));
  }
  std::vector<std::string> fields;
  for (std::string& f : SplitOn(expanded, ' ', true)) {
    for (std::string& g : SplitOn(f, '\t', true)) fields.push_back(g);
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cron expression \"%s\" has %d fields: expected 5 (minute hour day-of-month "
        "month day-of-week) or 6 (with seconds first)",
        std::string(expression), fields.size()));
  }
  int i = 0;
  bool any;
  if (fields.size() == 6) {
    if (auto s = ParseField(fields[i], kSeconds, i + 1, c.seconds_, any); !s.ok()) return s;
    ++i;
  } else {
    c.seconds_.set(0);
  }
  int base = fields.size() == 6 ? 1 : 0;
  if (auto s = ParseField(fields[base], kMinutes, base + 1, c.minutes_, any); !s.ok()) return s;
  if (auto s = ParseField(fields[base + 1], kHours, base + 2, c.hours_, any); !s.ok()) return s;
  if (auto s = ParseField(fields[base + 2], kDays, base + 3, c.days_, c.days_any_); !s.ok())
    return s;
  if (auto s = ParseField(fields[base + 3], kMonths, base + 4, c.months_, any); !s.ok()) return s;
  std::bitset<8> wd;
  if (auto s = ParseField(fields[base + 4], kWeekdays, base + 5, wd, c.weekdays_any_); !s.ok()) {
    return s;
  }
  for (int d = 0; d < 7; ++d) c.weekdays_[d] = wd[d];
  return c;
}

absl::StatusOr<absl::Time> CronSchedule::Next(absl::Time after) const {
  using std::chrono::seconds;
  using LocalSeconds = date::local_time<seconds>;
  const date::sys_seconds after_sys{seconds(absl::ToUnixSeconds(after))};
  LocalSeconds t = zone_->to_local(after_sys) + seconds(1);
  // Each step moves to the next candidate unit that can match; five years of
  // steps is far more than any valid expression needs.
  for (int step = 0; step < 500000; ++step) {
    date::local_days day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    unsigned month = static_cast<unsigned>(ymd.month());
    if (!months_[month]) {
      date::year_month next = date::year_month{ymd.year(), ymd.month()} + date::months{1};
      t = LocalSeconds{date::local_days{next / 1}};
      continue;
    }
    bool dom = days_[static_cast<unsigned>(ymd.day())];
    bool dow = weekdays_[date::weekday{day}.c_encoding()];
    bool day_ok = days_any_ && weekdays_any_ ? true
                  : days_any_                ? dow
                  : weekdays_any_            ? dom
                                             : (dom || dow);
    if (!day_ok) {
      t = LocalSeconds{day + date::days{1}};
      continue;
    }
    date::hh_mm_ss<seconds> tod{t - LocalSeconds{day}};
    if (!hours_[tod.hours().count()]) {
      t = date::floor<std::chrono::hours>(t) + std::chrono::hours(1);
      continue;
    }
    if (!minutes_[tod.minutes().count()]) {
      t = date::floor<std::chrono::minutes>(t) + std::chrono::minutes(1);
      continue;
    }
    if (!seconds_[tod.seconds().count()]) {
      t += seconds(1);
      continue;
    }
    date::local_info info = zone_->get_info(t);
    date::sys_seconds sys;
    if (info.result == date::local_info::ambiguous) {
      sys = zone_->to_sys(t, date::choose::earliest);
      if (sys <= after_sys) sys = zone_->to_sys(t, date::choose::latest);
    } else {
      // Unique, or skipped by a gap: to_sys gives the end of the gap.
      sys = zone_->to_sys(t, date::choose::earliest);
    }
    if (sys <= after_sys) {
      t += seconds(1);
      continue;
    }
    return absl::FromUnixSeconds(sys.time_since_epoch().count());
  }
  return absl::NotFoundError(absl::StrFormat("cron expression \"%s\" never fires", expression_));
}

}  // namespace popqueue::core
