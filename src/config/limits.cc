#include "config/limits.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/value.h"

namespace popqueue::config {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxRateLimit = 1'000'000'000;
constexpr int64_t kMaxRatePeriodMs = 24 * 3600 * 1000;  // 24h
constexpr int64_t kMaxCheckIntervalMs = 3600 * 1000;    // 1h

std::string Strip(std::string_view s) {
  return std::string(absl::StripAsciiWhitespace(absl::string_view(s.data(), s.size())));
}

std::string Lower(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

// A fragment of the input for a message: quoted, control characters as '?',
// cut to 40 bytes.
std::string Show(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (s.size() > 40) out += "...";
  return "\"" + out + "\"";
}

absl::Status Bad(const KeySpec& spec, const std::string& detail) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s; expected %s", detail, LimitExpectation(spec)));
}

// The comma-separated items of `text`, trimmed, empty ones dropped.
std::vector<std::string> Items(std::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    std::string s = Strip(std::string_view(item.data(), item.size()));
    if (!s.empty()) out.push_back(std::move(s));
  }
  return out;
}

bool IsNone(std::string_view text) {
  std::string s = Lower(Strip(text));
  return s.empty() || s == "none";
}

// "" when `name` may name a queue or job in a map, else what is wrong. Names
// must survive the text syntax unchanged, so no ',' '=' or outer spaces.
std::string NameProblem(std::string_view name) {
  if (name.empty()) return "an empty name";
  if (name.size() > 255) return "a name longer than 255 characters";
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "a name with a control character";
    }
    if (c == ',' || c == '=') return "a name with ',' or '='";
  }
  if (Strip(name).size() != name.size()) {
    return "a name with leading or trailing spaces";
  }
  return "";
}

// Splits "NAME=VALUE" into its trimmed halves; false without '='.
bool SplitItem(const std::string& item, std::string* name, std::string* value) {
  size_t eq = item.find('=');
  if (eq == std::string::npos) return false;
  *name = Strip(std::string_view(item).substr(0, eq));
  *value = Strip(std::string_view(item).substr(eq + 1));
  return true;
}

// ---- kCountMap ----

absl::Status AddCount(const KeySpec& spec, const std::string& name, std::optional<int64_t> count,
                      json& out) {
  if (std::string p = NameProblem(name); !p.empty()) {
    return Bad(spec, absl::StrFormat("%s: %s", Show(name), p));
  }
  if (out.contains(name)) {
    return Bad(spec, absl::StrFormat("%s is given twice", Show(name)));
  }
  if (!count || *count < spec.min || *count > spec.max) {
    return Bad(spec, absl::StrFormat("%s: the count must be an integer from "
                                     "%d to %d",
                                     Show(name), spec.min, spec.max));
  }
  out[name] = *count;
  return absl::OkStatus();
}

absl::StatusOr<json> CountMapText(const KeySpec& spec, std::string_view text) {
  json out = json::object();
  if (IsNone(text)) return out;
  for (const std::string& item : Items(text)) {
    std::string name, value;
    if (!SplitItem(item, &name, &value)) {
      return Bad(spec, absl::StrFormat("%s is not NAME=N", Show(item)));
    }
    int64_t n = 0;
    std::optional<int64_t> count;
    if (absl::SimpleAtoi(value, &n)) count = n;
    if (absl::Status s = AddCount(spec, name, count, out); !s.ok()) return s;
  }
  return out;
}

std::optional<int64_t> JsonInt(const json& v) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
    return v.get<int64_t>();
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

absl::StatusOr<json> CountMapJson(const KeySpec& spec, const json& value) {
  if (value.is_string()) return CountMapText(spec, value.get<std::string>());
  if (!value.is_object()) return Bad(spec, "not an object");
  json out = json::object();
  for (const auto& [name, count] : value.items()) {
    if (absl::Status s = AddCount(spec, name, JsonInt(count), out); !s.ok()) {
      return s;
    }
  }
  return out;
}

// ---- kRateLimits ----

// "100/1s" -> {"limit": 100, "period": 1000}; InvalidArgument saying what
// is wrong (naming `name`) otherwise.
absl::StatusOr<json> RateText(const std::string& name, std::string_view text) {
  std::string t = Strip(text);
  size_t slash = t.find('/');
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %s is not LIMIT/PERIOD", Show(name), Show(t)));
  }
  int64_t limit = 0;
  if (!absl::SimpleAtoi(Strip(std::string_view(t).substr(0, slash)), &limit) || limit < 0 ||
      limit > kMaxRateLimit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the limit must be an integer from 0 to %d", Show(name), kMaxRateLimit));
  }
  std::string period_text = Strip(std::string_view(t).substr(slash + 1));
  absl::StatusOr<absl::Duration> period = ParseDurationText(period_text);
  if (!period.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the period %s is not a duration", Show(name), Show(period_text)));
  }
  int64_t ms = absl::ToInt64Milliseconds(*period);
  if (ms < 1 || ms > kMaxRatePeriodMs) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the period must be from 1ms to 24h", Show(name)));
  }
  return json{{"limit", limit}, {"period", ms}};
}

absl::Status AddRate(const KeySpec& spec, const std::string& name, absl::StatusOr<json> rate,
                     json& out) {
  if (std::string p = NameProblem(name); !p.empty()) {
    return Bad(spec, absl::StrFormat("%s: %s", Show(name), p));
  }
  if (out.contains(name)) {
    return Bad(spec, absl::StrFormat("%s is given twice", Show(name)));
  }
  if (!rate.ok()) return Bad(spec, std::string(rate.status().message()));
  out[name] = *std::move(rate);
  return absl::OkStatus();
}

absl::StatusOr<json> RateLimitsText(const KeySpec& spec, std::string_view text) {
  json out = json::object();
  if (IsNone(text)) return out;
  for (const std::string& item : Items(text)) {
    std::string name, value;
    if (!SplitItem(item, &name, &value)) {
      return Bad(spec, absl::StrFormat("%s is not NAME=LIMIT/PERIOD", Show(item)));
    }
    if (absl::Status s = AddRate(spec, name, RateText(name, value), out); !s.ok()) {
      return s;
    }
  }
  return out;
}

// {"limit": 100, "period": "1s" | 1000} (period optional, 1s) or "100/1s".
absl::StatusOr<json> RateJson(const std::string& name, const json& v) {
  if (v.is_string()) return RateText(name, v.get<std::string>());
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not an object {\"limit\": N, \"period\": \"1s\"}", Show(name)));
  }
  int64_t period_ms = absl::ToInt64Milliseconds(RateLimit{}.period);
  std::optional<int64_t> limit;
  for (const auto& [field, fv] : v.items()) {
    if (field == "limit") {
      limit = JsonInt(fv);
      if (!limit || *limit < 0 || *limit > kMaxRateLimit) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: the limit must be an integer from 0 to %d", Show(name), kMaxRateLimit));
      }
    } else if (field == "period") {
      std::optional<int64_t> ms = JsonInt(fv);
      if (!ms && fv.is_string()) {
        absl::StatusOr<absl::Duration> d = ParseDurationText(fv.get<std::string>());
        if (d.ok()) ms = absl::ToInt64Milliseconds(*d);
      }
      if (!ms || *ms < 1 || *ms > kMaxRatePeriodMs) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: the period must be a duration from 1ms to 24h", Show(name)));
      }
      period_ms = *ms;
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: unknown field %s (the fields are limit and "
                          "period)",
                          Show(name), Show(field)));
    }
  }
  if (!limit) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: \"limit\" is missing", Show(name)));
  }
  return json{{"limit", *limit}, {"period", period_ms}};
}

absl::StatusOr<json> RateLimitsJson(const KeySpec& spec, const json& value) {
  if (value.is_string()) return RateLimitsText(spec, value.get<std::string>());
  if (!value.is_object()) return Bad(spec, "not an object");
  json out = json::object();
  for (const auto& [name, rate] : value.items()) {
    if (absl::Status s = AddRate(spec, name, RateJson(name, rate), out); !s.ok()) {
      return s;
    }
  }
  return out;
}

// ---- kResourceLimits ----

enum class FieldType { kBool, kFraction, kCount, kDuration };
struct Field {
  std::string_view name;
  FieldType type;
};
constexpr Field kFields[] = {
    {"enabled", FieldType::kBool},           {"cpuHigh", FieldType::kFraction},
    {"cpuLow", FieldType::kFraction},        {"memoryHigh", FieldType::kFraction},
    {"memoryLow", FieldType::kFraction},     {"minConcurrency", FieldType::kCount},
    {"checkInterval", FieldType::kDuration}, {"decreaseFactor", FieldType::kFraction},
    {"increaseStep", FieldType::kCount},
};

const Field* FindField(std::string_view name) {
  for (const Field& f : kFields) {
    if (Lower(f.name) == Lower(name)) return &f;
  }
  return nullptr;
}

json ResourceDefaults() {
  ResourceLimits d;
  return {{"enabled", d.enabled},
          {"cpuHigh", d.cpu_high},
          {"cpuLow", d.cpu_low},
          {"memoryHigh", d.memory_high},
          {"memoryLow", d.memory_low},
          {"minConcurrency", d.min_concurrency},
          {"checkInterval", absl::ToInt64Milliseconds(d.check_interval)},
          {"decreaseFactor", d.decrease_factor},
          {"increaseStep", d.increase_step}};
}

// The normalized value of `field` from text (`json_value` null) or JSON.
absl::StatusOr<json> FieldValue(const KeySpec& spec, const Field& field, std::string_view text,
                                const json* json_value) {
  auto problem = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("%s must be %s", field.name, what));
  };
  switch (field.type) {
    case FieldType::kBool: {
      if (json_value != nullptr) {
        if (!json_value->is_boolean()) return problem("true or false");
        return *json_value;
      }
      std::string l = Lower(text);
      if (l == "true" || l == "on" || l == "yes" || l == "1") return json(true);
      if (l == "false" || l == "off" || l == "no" || l == "0") {
        return json(false);
      }
      return problem("true or false");
    }
    case FieldType::kFraction: {
      double v = 0;
      if (json_value != nullptr) {
        if (!json_value->is_number()) return problem("a number");
        v = json_value->get<double>();
      } else if (!absl::SimpleAtod(std::string(text), &v)) {
        return problem("a number");
      }
      if (!std::isfinite(v) || v <= 0 || v > 1) {
        return problem("a fraction above 0 and at most 1, e.g. 0.8");
      }
      return json(v);
    }
    case FieldType::kCount: {
      std::optional<int64_t> n;
      int64_t parsed = 0;
      if (json_value != nullptr) {
        n = JsonInt(*json_value);
      } else if (absl::SimpleAtoi(std::string(text), &parsed)) {
        n = parsed;
      }
      if (!n || *n < spec.min || *n > spec.max) {
        return problem(absl::StrFormat("an integer from %d to %d", spec.min, spec.max));
      }
      return json(*n);
    }
    case FieldType::kDuration: {
      std::optional<int64_t> ms;
      if (json_value != nullptr) ms = JsonInt(*json_value);
      std::string t = json_value == nullptr     ? std::string(text)
                      : json_value->is_string() ? json_value->get<std::string>()
                                                : "";
      if (!ms && !t.empty()) {
        absl::StatusOr<absl::Duration> d = ParseDurationText(t);
        if (d.ok()) ms = absl::ToInt64Milliseconds(*d);
      }
      if (!ms || *ms < 1 || *ms > kMaxCheckIntervalMs) {
        return problem("a duration from 1ms to 1h");
      }
      return json(*ms);
    }
  }
  return problem("valid");
}

// The rules between fields (as core's ValidateLimits has them).
absl::Status CheckResource(const KeySpec& spec, const json& r) {
  for (std::string_view what : {"cpu", "memory"}) {
    std::string low = std::string(what) + "Low";
    std::string high = std::string(what) + "High";
    double l = r[low].get<double>();
    double h = r[high].get<double>();
    if (!(l < h)) {
      return Bad(spec, absl::StrFormat("%s (%s) must be below %s (%s)", low, r[low].dump(), high,
                                       r[high].dump()));
    }
  }
  double f = r["decreaseFactor"].get<double>();
  if (!(f < 1)) {
    return Bad(spec,
               "decreaseFactor must be below 1 (the limit is multiplied "
               "by it under load)");
  }
  return absl::OkStatus();
}

// Sets `name` = the value of `text` or `json_value` in `out`.
absl::Status SetField(const KeySpec& spec, std::string_view name, std::string_view text,
                      const json* json_value, std::vector<std::string_view>& seen, json& out) {
  const Field* field = FindField(name);
  if (field == nullptr) {
    std::vector<std::string> names;
    for (const Field& f : kFields) names.emplace_back(f.name);
    return Bad(spec, absl::StrFormat("unknown field %s (the fields are %s)", Show(name),
                                     absl::StrJoin(names, ", ")));
  }
  for (std::string_view s : seen) {
    if (s == field->name) {
      return Bad(spec, absl::StrFormat("%s is given twice", field->name));
    }
  }
  seen.push_back(field->name);
  absl::StatusOr<json> v = FieldValue(spec, *field, text, json_value);
  if (!v.ok()) return Bad(spec, std::string(v.status().message()));
  out[std::string(field->name)] = *std::move(v);
  return absl::OkStatus();
}

// Fields given without "enabled" turn resource-aware concurrency on.
absl::StatusOr<json> FinishResource(const KeySpec& spec, const std::vector<std::string_view>& seen,
                                    json out) {
  bool has_enabled = false;
  for (std::string_view s : seen) has_enabled |= s == "enabled";
  if (!has_enabled) out["enabled"] = true;
  if (absl::Status s = CheckResource(spec, out); !s.ok()) return s;
  return out;
}

absl::StatusOr<json> ResourceText(const KeySpec& spec, std::string_view text) {
  json out = ResourceDefaults();
  std::string word = Lower(Strip(text));
  if (word == "on" || word == "true") {
    out["enabled"] = true;
    return out;
  }
  if (word == "off" || word == "false") return out;  // the default is off
  std::vector<std::string> items = Items(text);
  if (items.empty()) return Bad(spec, "no fields");
  std::vector<std::string_view> seen;
  for (const std::string& item : items) {
    std::string name, value;
    if (!SplitItem(item, &name, &value)) {
      return Bad(spec, absl::StrFormat("%s is not FIELD=VALUE", Show(item)));
    }
    if (absl::Status s = SetField(spec, name, value, nullptr, seen, out); !s.ok()) {
      return s;
    }
  }
  return FinishResource(spec, seen, std::move(out));
}

absl::StatusOr<json> ResourceJson(const KeySpec& spec, const json& value) {
  if (value.is_boolean()) {
    json out = ResourceDefaults();
    out["enabled"] = value.get<bool>();
    return out;
  }
  if (value.is_string()) return ResourceText(spec, value.get<std::string>());
  if (!value.is_object()) return Bad(spec, "not true, false or an object");
  json out = ResourceDefaults();
  std::vector<std::string_view> seen;
  for (const auto& [name, v] : value.items()) {
    if (absl::Status s = SetField(spec, name, "", &v, seen, out); !s.ok()) {
      return s;
    }
  }
  return FinishResource(spec, seen, std::move(out));
}

std::string FieldText(const Field& field, const json& v) {
  if (field.type == FieldType::kDuration) {
    return absl::FormatDuration(absl::Milliseconds(v.get<int64_t>()));
  }
  return v.dump();  // doubles in their shortest exact form
}

std::string FormatResource(const json& value) {
  json defaults = ResourceDefaults();
  bool enabled = value.value("enabled", false);
  std::vector<std::string> items;
  for (const Field& f : kFields) {
    std::string name(f.name);
    if (f.type == FieldType::kBool || !value.contains(name)) continue;
    if (value[name] == defaults[name]) continue;
    items.push_back(name + "=" + FieldText(f, value[name]));
  }
  if (items.empty()) return enabled ? "on" : "off";
  if (!enabled) items.insert(items.begin(), "enabled=false");
  return absl::StrJoin(items, ",");
}

}  // namespace

absl::StatusOr<json> ParseLimitText(const KeySpec& spec, std::string_view text) {
  switch (spec.type) {
    case ValueType::kCountMap: return CountMapText(spec, text);
    case ValueType::kRateLimits: return RateLimitsText(spec, text);
    case ValueType::kResourceLimits: return ResourceText(spec, text);
    default: return absl::InternalError("not a limit key");
  }
}

absl::StatusOr<json> ParseLimitJson(const KeySpec& spec, const json& value) {
  switch (spec.type) {
    case ValueType::kCountMap: return CountMapJson(spec, value);
    case ValueType::kRateLimits: return RateLimitsJson(spec, value);
    case ValueType::kResourceLimits: return ResourceJson(spec, value);
    default: return absl::InternalError("not a limit key");
  }
}

std::string LimitExpectation(const KeySpec& spec) {
  switch (spec.type) {
    case ValueType::kCountMap:
      return absl::StrFormat(
          "NAME=N items such as emails=20,reports=2 (N from %d to %d), or "
          "none; in config.json an object {\"emails\": 20}",
          spec.min, spec.max);
    case ValueType::kRateLimits:
      return absl::StrFormat(
          "NAME=LIMIT/PERIOD items such as emails=100/1s,reports=5/1m "
          "(LIMIT from 0 to %d, 0 = unlimited; PERIOD from 1ms to 24h), or "
          "none; in config.json an object {\"emails\": {\"limit\": 100, "
          "\"period\": \"1s\"}}",
          kMaxRateLimit);
    case ValueType::kResourceLimits:
      return "on, off, or FIELD=VALUE items such as "
             "cpuHigh=0.8,cpuLow=0.6,minConcurrency=2; in config.json true, "
             "false or an object {\"cpuHigh\": 0.8, ...}";
    default: return "a valid value";
  }
}

std::string FormatLimit(const KeySpec& spec, const json& value) {
  if (spec.type == ValueType::kResourceLimits) {
    return value.is_object() ? FormatResource(value) : value.dump();
  }
  if (!value.is_object()) return value.dump();
  if (value.empty()) return "none";
  std::vector<std::string> items;
  for (const auto& [name, v] : value.items()) {
    if (spec.type == ValueType::kRateLimits && v.is_object()) {
      items.push_back(
          absl::StrFormat("%s=%d/%s", name, v.value("limit", int64_t{0}),
                          absl::FormatDuration(absl::Milliseconds(v.value("period", int64_t{0})))));
    } else {
      items.push_back(name + "=" + v.dump());
    }
  }
  return absl::StrJoin(items, ",");
}

std::map<std::string, int> CountMapFromJson(const json& value) {
  std::map<std::string, int> out;
  if (!value.is_object()) return out;
  for (const auto& [name, v] : value.items()) {
    out[name] = static_cast<int>(v.get<int64_t>());
  }
  return out;
}

std::map<std::string, RateLimit> RateLimitsFromJson(const json& value) {
  std::map<std::string, RateLimit> out;
  if (!value.is_object()) return out;
  for (const auto& [name, v] : value.items()) {
    out[name] = RateLimit{.limit = v.value("limit", int64_t{0}),
                          .period = absl::Milliseconds(v.value("period", int64_t{1000}))};
  }
  return out;
}

ResourceLimits ResourceLimitsFromJson(const json& value) {
  ResourceLimits r;
  if (!value.is_object()) return r;
  r.enabled = value.value("enabled", r.enabled);
  r.cpu_high = value.value("cpuHigh", r.cpu_high);
  r.cpu_low = value.value("cpuLow", r.cpu_low);
  r.memory_high = value.value("memoryHigh", r.memory_high);
  r.memory_low = value.value("memoryLow", r.memory_low);
  r.min_concurrency = static_cast<int>(value.value("minConcurrency", int64_t{r.min_concurrency}));
  r.check_interval =
      absl::Milliseconds(value.value("checkInterval", absl::ToInt64Milliseconds(r.check_interval)));
  r.decrease_factor = value.value("decreaseFactor", r.decrease_factor);
  r.increase_step = static_cast<int>(value.value("increaseStep", int64_t{r.increase_step}));
  return r;
}

}  // namespace popqueue::config
