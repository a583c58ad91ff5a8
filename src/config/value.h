// Turns one setting's raw value into its normalized JSON form, the same for
// every source:
//   kString, kUrl, kEnum -> string     kInt -> integer    kBool -> boolean
//   kDuration -> integer milliseconds   kList -> array of strings
//   kObject -> object (or null)
//   kCountMap, kRateLimits, kResourceLimits -> object, see limits.h
// Text comes from the environment or a flag; JSON from config.json. Errors are
// InvalidArgument whose message is only "expected ..."; the caller says where
// the value came from (config.cc).
//
// Thread-safety: pure functions.
#ifndef POPQUEUE_CONFIG_VALUE_H_
#define POPQUEUE_CONFIG_VALUE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/keys.h"
#include "nlohmann/json.hpp"

namespace popqueue::config {

absl::StatusOr<nlohmann::json> ParseText(const KeySpec& spec, std::string_view text);
absl::StatusOr<nlohmann::json> ParseJson(const KeySpec& spec, const nlohmann::json& value);

// What a valid value looks like, e.g. "an integer from 0 to 65535".
std::string Expectation(const KeySpec& spec);

// A normalized value as text in the env/flag syntax ("30s", "a,b", "true").
// Not redacted: see redact.h.
std::string FormatValue(const KeySpec& spec, const nlohmann::json& value);

// Deeper JSON is refused: no key needs more than a few levels, and the code
// that prints and redacts values recurses.
inline constexpr int kMaxJsonDepth = 32;

// JSON text nested at most kMaxJsonDepth levels; otherwise InvalidArgument
// "not valid JSON: <where and why>" or "nested deeper than 32 levels".
absl::StatusOr<nlohmann::json> ParseJsonBounded(std::string_view text);

// A duration: a number of milliseconds, or absl syntax with units ("30s",
// "1h30m", "500ms"); negative and infinite durations are refused.
absl::StatusOr<absl::Duration> ParseDurationText(std::string_view text);

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_VALUE_H_
