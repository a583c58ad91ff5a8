#include "config/value.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/limits.h"

namespace popqueue::config {
namespace {

absl::Status Expected(const KeySpec& spec) {
  return absl::InvalidArgumentError("expected " + Expectation(spec));
}

std::vector<std::string> Choices(const KeySpec& spec) {
  return absl::StrSplit(std::string(spec.choices), '|');
}

absl::StatusOr<nlohmann::json> CheckInt(const KeySpec& spec, int64_t v) {
  if (v < spec.min || v > spec.max) return Expected(spec);
  return nlohmann::json(v);
}

absl::StatusOr<nlohmann::json> CheckEnum(const KeySpec& spec, const std::string& v) {
  for (const std::string& c : Choices(spec)) {
    if (c == v) return nlohmann::json(v);
  }
  return Expected(spec);
}

absl::StatusOr<nlohmann::json> DurationJson(const KeySpec& spec, std::string_view text) {
  absl::StatusOr<absl::Duration> d = ParseDurationText(text);
  if (!d.ok()) return Expected(spec);
  return nlohmann::json(absl::ToInt64Milliseconds(*d));
}

// "a, b,,c" -> ["a","b","c"]; an empty list is an error for the caller.
nlohmann::json SplitList(std::string_view text) {
  nlohmann::json out = nlohmann::json::array();
  for (absl::string_view item : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    std::string s(absl::StripAsciiWhitespace(item));
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsonBounded(std::string_view text) {
  bool too_deep = false;
  // Checked while parsing, so a deep document is never built.
  nlohmann::json::parser_callback_t limit_depth =
      [&too_deep](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
        if ((event == nlohmann::json::parse_event_t::object_start ||
             event == nlohmann::json::parse_event_t::array_start) &&
            depth >= kMaxJsonDepth) {
          too_deep = true;
        }
        return !too_deep;
      };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), limit_depth);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for numbers beyond a double (1e999).
    return absl::InvalidArgumentError(absl::StrFormat("not valid JSON: %s", e.what()));
  }
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrFormat("nested deeper than %d levels", kMaxJsonDepth));
  }
  return j;
}

absl::StatusOr<absl::Duration> ParseDurationText(std::string_view text) {
  std::string s(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  int64_t ms = 0;
  if (absl::SimpleAtoi(s, &ms)) {
    if (ms < 0) return absl::InvalidArgumentError("negative duration");
    return absl::Milliseconds(ms);
  }
  absl::Duration d;
  if (s.empty() || !absl::ParseDuration(s, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("not a duration");
  }
  return d;
}

std::string Expectation(const KeySpec& spec) {
  switch (spec.type) {
    case ValueType::kString: return "a string";
    case ValueType::kUrl: return "a URL such as scheme://[user:password@]host[:port][/path]";
    case ValueType::kInt: return absl::StrFormat("an integer from %d to %d", spec.min, spec.max);
    case ValueType::kBool: return "true or false";
    case ValueType::kDuration:
      return "a duration such as 500ms, 30s, 5m or 1h30m, or a number of "
             "milliseconds";
    case ValueType::kList: return "a list of names (a JSON array of strings, or \"a,b,c\")";
    case ValueType::kEnum: return "one of " + absl::StrJoin(Choices(spec), ", ");
    case ValueType::kObject: return "a JSON object";
    case ValueType::kCountMap:
    case ValueType::kRateLimits:
    case ValueType::kResourceLimits: return LimitExpectation(spec);
  }
  return "a valid value";
}

absl::StatusOr<nlohmann::json> ParseText(const KeySpec& spec, std::string_view text) {
  std::string s(text);
  switch (spec.type) {
    case ValueType::kString:
    case ValueType::kUrl: return nlohmann::json(s);
    case ValueType::kEnum: return CheckEnum(spec, absl::AsciiStrToLower(s));
    case ValueType::kInt: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(s, &v)) return Expected(spec);
      return CheckInt(spec, v);
    }
    case ValueType::kBool: {
      std::string l = absl::AsciiStrToLower(s);
      if (l == "true" || l == "1" || l == "yes") return nlohmann::json(true);
      if (l == "false" || l == "0" || l == "no") return nlohmann::json(false);
      return Expected(spec);
    }
    case ValueType::kDuration: return DurationJson(spec, s);
    case ValueType::kList: {
      nlohmann::json list = SplitList(s);
      if (list.empty()) return Expected(spec);
      return list;
    }
    case ValueType::kObject: {
      absl::StatusOr<nlohmann::json> j = ParseJsonBounded(s);
      if (!j.ok() || !(j->is_object() || j->is_null())) {
        return Expected(spec);
      }
      return *std::move(j);
    }
    case ValueType::kCountMap:
    case ValueType::kRateLimits:
    case ValueType::kResourceLimits: return ParseLimitText(spec, text);
  }
  return Expected(spec);
}

absl::StatusOr<nlohmann::json> ParseJson(const KeySpec& spec, const nlohmann::json& value) {
  switch (spec.type) {
    case ValueType::kString:
    case ValueType::kUrl:
      if (!value.is_string()) return Expected(spec);
      return value;
    case ValueType::kEnum:
      if (!value.is_string()) return Expected(spec);
      return CheckEnum(spec, value.get<std::string>());
    case ValueType::kInt:
      if (value.is_number_unsigned()) {
        if (value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
          return Expected(spec);
        }
        return CheckInt(spec, value.get<int64_t>());
      }
      if (!value.is_number_integer()) return Expected(spec);
      return CheckInt(spec, value.get<int64_t>());
    case ValueType::kBool:
      if (!value.is_boolean()) return Expected(spec);
      return value;
    case ValueType::kDuration:
      if (value.is_number_integer()) {
        if (value.get<int64_t>() < 0) return Expected(spec);
        return nlohmann::json(value.get<int64_t>());
      }
      if (!value.is_string()) return Expected(spec);
      return DurationJson(spec, value.get<std::string>());
    case ValueType::kList: {
      if (value.is_string()) return ParseText(spec, value.get<std::string>());
      if (!value.is_array() || value.empty()) return Expected(spec);
      nlohmann::json out = nlohmann::json::array();
      for (const nlohmann::json& item : value) {
        if (!item.is_string()) return Expected(spec);
        std::string s(absl::StripAsciiWhitespace(item.get<std::string>()));
        if (s.empty()) return Expected(spec);
        out.push_back(s);
      }
      return out;
    }
    case ValueType::kObject:
      if (!value.is_object() && !value.is_null()) return Expected(spec);
      return value;
    case ValueType::kCountMap:
    case ValueType::kRateLimits:
    case ValueType::kResourceLimits: return ParseLimitJson(spec, value);
  }
  return Expected(spec);
}

std::string FormatValue(const KeySpec& spec, const nlohmann::json& value) {
  switch (spec.type) {
    case ValueType::kString:
    case ValueType::kUrl:
    case ValueType::kEnum: return value.is_string() ? value.get<std::string>() : value.dump();
    case ValueType::kInt:
    case ValueType::kBool: return value.dump();
    case ValueType::kDuration: {
      if (!value.is_number_integer()) return value.dump();
      int64_t ms = value.get<int64_t>();
      return ms == 0 ? "0" : absl::FormatDuration(absl::Milliseconds(ms));
    }
    case ValueType::kList: {
      std::vector<std::string> items;
      for (const auto& item : value) {
        items.push_back(item.is_string() ? item.get<std::string>() : item.dump());
      }
      return absl::StrJoin(items, ",");
    }
    case ValueType::kObject:
      return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    case ValueType::kCountMap:
    case ValueType::kRateLimits:
    case ValueType::kResourceLimits: return FormatLimit(spec, value);
  }
  return value.dump();
}

}  // namespace popqueue::config
