// The worker-limit value types of the key table (keys.h): per-queue counts
// (kCountMap), rate limits by name (kRateLimits) and resource-aware
// concurrency (kResourceLimits). Each has a compact text syntax for the
// environment and flags and a JSON form for config.json:
//
//   kCountMap        emails=20,reports=2        {"emails": 20, "reports": 2}
//   kRateLimits      emails=100/1s,sms=30/1m    {"emails": {"limit": 100,
//                                                 "period": "1s"},
//                                                "sms": "30/1m"}
//   kResourceLimits  on | off |                 true | false |
//                    cpuHigh=0.8,cpuLow=0.6     {"cpuHigh": 0.8, ...}
//
// "none" (or "") is the empty map, to clear a map set at a lower level.
// Giving resource fields enables resource-aware concurrency unless
// enabled=false is among them. Normalized JSON (what Config stores):
//   kCountMap        {"emails": 20}
//   kRateLimits      {"emails": {"limit": 100, "period": 1000}}  (period: ms)
//   kResourceLimits  {"enabled": true, "cpuHigh": 0.9, "cpuLow": 0.7,
//                     "memoryHigh": 0.9, "memoryLow": 0.8,
//                     "minConcurrency": 1, "checkInterval": 2000,
//                     "decreaseFactor": 0.5, "increaseStep": 1}
//                    (every field; defaults from popqueue::ResourceLimits)
// Parsing validates fully, with the library's rules (core's ValidateLimits)
// so a value that loads also starts. Errors are InvalidArgument "expected
// ...: <what is wrong>"; the caller names the key and the source.
//
// Thread-safety: pure functions.
#ifndef POPQUEUE_CONFIG_LIMITS_H_
#define POPQUEUE_CONFIG_LIMITS_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/keys.h"
#include "nlohmann/json.hpp"
#include "popqueue/options.h"

namespace popqueue::config {

// For a key of one of the three types above (value.h dispatches here).
absl::StatusOr<nlohmann::json> ParseLimitText(const KeySpec& spec, std::string_view text);
absl::StatusOr<nlohmann::json> ParseLimitJson(const KeySpec& spec, const nlohmann::json& value);
std::string LimitExpectation(const KeySpec& spec);
// The normalized value in the text syntax; ParseLimitText gives it back.
std::string FormatLimit(const KeySpec& spec, const nlohmann::json& value);

// Normalized values as the library's options.
std::map<std::string, int> CountMapFromJson(const nlohmann::json& value);
std::map<std::string, RateLimit> RateLimitsFromJson(const nlohmann::json& value);
ResourceLimits ResourceLimitsFromJson(const nlohmann::json& value);

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_LIMITS_H_
