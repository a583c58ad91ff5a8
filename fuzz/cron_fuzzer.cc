// Fuzz target: cron expressions and time-zone names (src/core/cron.h), which
// come from Queue::Every callers, config and the CLI. Input: the expression,
// optionally followed by '\n' and a time-zone name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view zone = "UTC";
  if (size_t nl = text.find('\n'); nl != std::string_view::npos) {
    zone = text.substr(nl + 1);
    text = text.substr(0, nl);
  }
  auto schedule = popqueue::core::CronSchedule::Parse(text, zone);
  if (!schedule.ok()) {
    if (schedule.status().message().empty()) std::abort();
    return 0;
  }
  // Fire times are strictly increasing.
  absl::Time t = absl::FromUnixSeconds(1700000000);
  for (int i = 0; i < 4; ++i) {
    auto next = schedule->Next(t);
    if (!next.ok()) break;
    if (*next <= t) std::abort();
    t = *next;
  }
  return 0;
}
