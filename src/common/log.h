// Minimal leveled logging to stderr. Never pass secrets (use Url::Redacted()).
// The level comes from POPQUEUE_LOG_LEVEL (debug, info, warn, error; default
// info) or SetLogLevel().
#ifndef POPQUEUE_COMMON_LOG_H_
#define POPQUEUE_COMMON_LOG_H_

#include <string>

#include "absl/strings/str_format.h"

namespace popqueue {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, const std::string& message);

template <typename... Args>
void Logf(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (LogEnabled(level)) LogLine(level, absl::StrFormat(format, args...));
}

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_LOG_H_
