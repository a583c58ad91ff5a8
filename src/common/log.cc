#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace popqueue {
namespace {

LogLevel LevelFromEnv() {
  // The environment is read-only here: nothing in popqueue calls setenv.
  const char* v = std::getenv("POPQUEUE_LOG_LEVEL");  // NOLINT(concurrency-mt-unsafe)
  if (v == nullptr) return LogLevel::kInfo;
  if (std::strcmp(v, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(v, "warn") == 0) return LogLevel::kWarn;
  if (std::strcmp(v, "error") == 0) return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int>& Level() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnv())};
  return level;
}

}  // namespace

void SetLogLevel(LogLevel level) { Level() = static_cast<int>(level); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= Level(); }

void LogLine(LogLevel level, const std::string& message) {
  static const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  std::string line =
      absl::StrFormat("%s %-5s popqueue: %s\n",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                      kNames[static_cast<int>(level)], message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string JobTag(const Job& job) {
  std::string tag = absl::StrFormat("job %d", job.id);
  auto it = job.metadata.find(std::string(kTraceparentKey));
  if (it == job.metadata.end()) return tag;
  // version "-" trace-id (32 hex) "-" ...; anything else is shown cut.
  std::string_view tp = it->second;
  std::string_view trace = tp.size() >= 35 && tp[2] == '-' ? tp.substr(3, 32) : tp.substr(0, 64);
  for (char c : trace) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return tag + " trace=(malformed)";
  }
  return absl::StrCat(tag, " trace=", std::string(trace));
}

}  // namespace popqueue
