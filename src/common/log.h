// Minimal leveled logging to stderr. Never pass secrets (use Url::Redacted()).
// The level comes from POPQUEUE_LOG_LEVEL (debug, info, warn, error; default
// info) or SetLogLevel().
#ifndef POPQUEUE_COMMON_LOG_H_
#define POPQUEUE_COMMON_LOG_H_

#include <string>

#include "absl/strings/str_format.h"
#include "popqueue/job.h"

namespace popqueue {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, const std::string& message);

template <typename... Args>
void Logf(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (LogEnabled(level)) LogLine(level, absl::StrFormat(format, args...));
}

// How log lines name a job: "job 7260813574283264", followed by
// " trace=<trace-id>" when its metadata has a W3C traceparent
// ("00-<trace-id>-<span-id>-<flags>"), so its lines join the trace.
std::string JobTag(const Job& job);

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_LOG_H_
