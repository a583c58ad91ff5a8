#include "server/http/request_json.h"

#include <cstdint>
#include <limits>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/field_error.h"

namespace popqueue::server {
namespace {

struct TooDeep {};

const char* TypeName(const nlohmann::json& v) { return v.type_name(); }

absl::StatusOr<std::string> GetString(const nlohmann::json& v, const std::string& field) {
  if (!v.is_string()) {
    return FieldError(field, absl::StrFormat("must be a string, got %s", TypeName(v)));
  }
  return v.get<std::string>();
}

absl::StatusOr<int64_t> GetInt(const nlohmann::json& v, const std::string& field, int64_t min,
                               int64_t max) {
  if (!v.is_number_integer()) {
    return FieldError(field, absl::StrFormat("must be an integer, got %s",
                                             v.is_number() ? "a fraction" : TypeName(v)));
  }
  bool in_range;
  int64_t n = 0;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(max);
    n = in_range ? static_cast<int64_t>(u) : 0;
  } else {
    n = v.get<int64_t>();
    in_range = n >= min && n <= max;
  }
  if (!in_range) {
    return FieldError(field, absl::StrFormat("must be between %d and %d", min, max));
  }
  return n;
}

// Seconds as a JSON number (integer or fraction) within [min, max].
absl::StatusOr<absl::Duration> GetSeconds(const nlohmann::json& v, const std::string& field,
                                          bool allow_zero) {
  if (!v.is_number()) {
    return FieldError(field, absl::StrFormat("must be a number of seconds, got %s", TypeName(v)));
  }
  double s = v.get<double>();
  constexpr double kMax = 10.0 * 365 * 24 * 3600;  // ten years
  if (!(s >= 0) || (!allow_zero && s == 0) || s > kMax) {
    return FieldError(field, allow_zero ? "must be between 0 and 315360000 seconds"
                                        : "must be more than 0 and at most 315360000 seconds");
  }
  return absl::Seconds(s);
}

}  // namespace

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<nlohmann::json> ParseJsonObject(const std::string& body) {
  nlohmann::json parsed;
  try {
    parsed =
        nlohmann::json::parse(body, [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > kMaxJsonDepth) throw TooDeep{};
          return true;
        });
  } catch (const TooDeep&) {
    return FieldError("body", absl::StrFormat("JSON nested deeper than %d levels", kMaxJsonDepth));
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    bool utf8 =
        what.find("UTF-8") != std::string::npos || what.find("invalid string") != std::string::npos;
    return FieldError("body", absl::StrFormat("%s at byte %d",
                                              utf8 ? "invalid UTF-8 or control "
                                                     "character in a JSON string"
                                                   : "malformed JSON",
                                              e.byte));
  } catch (const nlohmann::json::exception& e) {
    // Anything else the parser throws, e.g. out_of_range 406 for a number
    // such as 1e400 that overflows a double: the body is at fault, not us.
    std::string what = e.what();
    if (size_t bracket = what.find("] "); bracket != std::string::npos) {
      what = what.substr(bracket + 2);
    }
    return FieldError("body", absl::StrFormat("invalid JSON: %s", what.substr(0, 200)));
  }
  if (!parsed.is_object()) {
    return FieldError("body", absl::StrFormat("must be a JSON object, got %s", TypeName(parsed)));
  }
  return parsed;
}

absl::StatusOr<JobId> ParseJobId(std::string_view text, std::string_view field) {
  JobId id = 0;
  bool digits = !text.empty() && text.size() <= 19;
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (!digits || !absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &id) || id <= 0) {
    return FieldError(field,
                      "must be a job id: a positive decimal integer such as "
                      "\"7300112233445566\"");
  }
  return id;
}

absl::StatusOr<JobId> JobIdFromJson(const nlohmann::json& value, std::string_view field) {
  if (value.is_string()) return ParseJobId(value.get_ref<const std::string&>(), field);
  if (value.is_number_integer()) {
    auto n = GetInt(value, std::string(field), 1, std::numeric_limits<int64_t>::max());
    if (n.ok()) return *n;
  }
  return FieldError(field,
                    "must be a job id: a positive decimal integer such as "
                    "\"7300112233445566\"");
}

absl::StatusOr<EnqueueRequest> ParseEnqueueRequest(const nlohmann::json& item,
                                                   const std::string& prefix) {
  if (!item.is_object()) {
    std::string field = prefix.empty() ? "body" : prefix.substr(0, prefix.size() - 1);
    return FieldError(field, absl::StrFormat("must be a JSON object, got %s", TypeName(item)));
  }
  static const std::set<std::string, std::less<>> kKnown = {
      "name",  "data",         "identifier",  "queue",          "priority",       "runAt",
      "score", "delaySeconds", "maxAttempts", "timeoutSeconds", "backoffSeconds", "metadata"};
  for (const auto& [key, unused] : item.items()) {
    if (!kKnown.count(key)) {
      return FieldError(prefix + key,
                        "unknown field; expected one of name, data, "
                        "identifier, queue, priority, runAt, delaySeconds, "
                        "score, maxAttempts, timeoutSeconds, backoffSeconds, metadata");
    }
  }
  EnqueueRequest r;
  auto name_it = item.find("name");
  if (name_it == item.end()) return FieldError(prefix + "name", "required");
  auto name = GetString(*name_it, prefix + "name");
  if (!name.ok()) return name.status();
  if (name->empty()) return FieldError(prefix + "name", "must not be empty");
  r.name = std::move(*name);

  if (auto it = item.find("data"); it != item.end()) {
    r.data = it->is_string() ? it->get<std::string>() : DumpJson(*it);
  }
  if (auto it = item.find("identifier"); it != item.end()) {
    auto v = GetString(*it, prefix + "identifier");
    if (!v.ok()) return v.status();
    r.options.identifier = std::move(*v);
  }
  if (auto it = item.find("queue"); it != item.end()) {
    auto v = GetString(*it, prefix + "queue");
    if (!v.ok()) return v.status();
    r.options.queue = std::move(*v);
  }
  if (auto it = item.find("priority"); it != item.end()) {
    auto v = GetInt(*it, prefix + "priority", std::numeric_limits<int>::min(),
                    std::numeric_limits<int>::max());
    if (!v.ok()) return v.status();
    r.options.priority = static_cast<int>(*v);
  }
  int when = item.count("runAt") + item.count("score") + item.count("delaySeconds");
  if (when > 1) {
    std::string field = prefix + (item.count("runAt") ? "runAt" : "score");
    return FieldError(field, "runAt, delaySeconds and score are exclusive: set one");
  }
  if (auto it = item.find("runAt"); it != item.end()) {
    auto v = GetString(*it, prefix + "runAt");
    if (!v.ok()) return v.status();
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *v, &t, &err)) {
      return FieldError(prefix + "runAt",
                        "must be an RFC 3339 time such as \"2026-01-01T00:00:00Z\"");
    }
    r.options.run_at = t;
  }
  if (auto it = item.find("score"); it != item.end()) {
    auto v = GetInt(*it, prefix + "score", 0, int64_t{1} << 40);
    if (!v.ok()) return v.status();
    r.options.run_at = absl::FromUnixSeconds(*v);
  }
  if (auto it = item.find("delaySeconds"); it != item.end()) {
    auto v = GetSeconds(*it, prefix + "delaySeconds", /*allow_zero=*/true);
    if (!v.ok()) return v.status();
    r.options.delay = *v;
  }
  if (auto it = item.find("maxAttempts"); it != item.end()) {
    auto v = GetInt(*it, prefix + "maxAttempts", 1, std::numeric_limits<int>::max());
    if (!v.ok()) return v.status();
    r.options.max_attempts = static_cast<int>(*v);
  }
  if (auto it = item.find("timeoutSeconds"); it != item.end()) {
    auto v = GetSeconds(*it, prefix + "timeoutSeconds", /*allow_zero=*/false);
    if (!v.ok()) return v.status();
    r.options.timeout = *v;
  }
  if (auto it = item.find("backoffSeconds"); it != item.end()) {
    auto v = GetSeconds(*it, prefix + "backoffSeconds", /*allow_zero=*/false);
    if (!v.ok()) return v.status();
    r.options.backoff_base = *v;
  }
  if (auto it = item.find("metadata"); it != item.end() && !it->is_null()) {
    if (!it->is_object()) {
      return FieldError(prefix + "metadata",
                        absl::StrFormat("must be an object of strings, got %s", TypeName(*it)));
    }
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) {
        return FieldError(absl::StrCat(prefix, "metadata.", key),
                          absl::StrFormat("must be a string, got %s", TypeName(value)));
      }
      r.options.metadata.emplace(key, value.get<std::string>());
    }
  }
  return r;
}

absl::Status CheckPayloadSize(const EnqueueRequest& request, size_t max_payload_bytes,
                              const std::string& prefix) {
  if (request.data.size() <= max_payload_bytes) return absl::OkStatus();
  return FieldError(absl::StrCat(prefix, "data"),
                    absl::StrFormat("payload of %d bytes exceeds the limit of %d bytes",
                                    request.data.size(), max_payload_bytes),
                    absl::StatusCode::kResourceExhausted);
}

absl::StatusOr<JobFilter> ParseJobFilter(const QueryParams& params) {
  static const std::set<std::string, std::less<>> kKnown = {"state",      "name",  "queue",
                                                            "identifier", "limit", "before"};
  JobFilter f;
  for (const auto& [key, value] : params) {
    if (!kKnown.count(key)) {
      return FieldError(key,
                        "unknown query parameter; expected state, name, queue, "
                        "identifier, limit or before");
    }
    if (key == "state") {
      for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        auto state = ParseJobState(std::string_view(part.data(), part.size()));
        if (!state.ok()) {
          return FieldError("state", std::string(state.status().message()));
        }
        f.states.push_back(*state);
      }
    } else if (key == "name") {
      f.name = value;
    } else if (key == "queue") {
      f.queue = value;
    } else if (key == "identifier") {
      f.identifier = value;
    } else if (key == "limit") {
      int limit = 0;
      if (!absl::SimpleAtoi(value, &limit) || limit < 1 || limit > 1000) {
        return FieldError("limit", "must be an integer from 1 to 1000");
      }
      f.limit = limit;
    } else if (key == "before" && !value.empty()) {
      auto id = ParseJobId(value, "before");
      if (!id.ok()) return id.status();
      f.before_id = *id;
    }
  }
  return f;
}

}  // namespace popqueue::server
