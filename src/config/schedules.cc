#include "config/schedules.h"

#include <set>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/job_json.h"
#include "config/config.h"
#include "config/keys.h"
#include "config/value.h"
#include "core/cron.h"

namespace popqueue::config {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& path, std::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": expected ", std::string(expected)));
}

// A duration as config.json takes it: "90s", "1h30m", or milliseconds.
absl::StatusOr<absl::Duration> DurationField(const json& v, const std::string& path) {
  if (v.is_number_integer() && v.get<int64_t>() > 0) return absl::Milliseconds(v.get<int64_t>());
  if (v.is_string()) {
    auto d = ParseDurationText(v.get<std::string>());
    if (d.ok() && *d > absl::ZeroDuration()) return *d;
  }
  return Bad(path, "a positive duration (\"90s\", \"1h30m\") or milliseconds");
}

absl::StatusOr<ScheduleDecl> ParseOne(const std::string& key, const json& j) {
  const std::string path = absl::StrCat(std::string(key::kSchedules), ".", key);
  if (!j.is_object()) return Bad(path, "an object with \"cron\"");
  static const std::set<std::string, std::less<>> kFields = {
      "cron",    "name",     "data",   "queue",         "priority",   "maxAttempts",
      "timeout", "timeZone", "missed", "catchUpWindow", "identifier", "metadata"};
  for (const auto& [field, _] : j.items()) {
    if (kFields.count(field) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".", field,
          ": unknown field (expected cron, name, data, queue, priority, maxAttempts, timeout, "
          "timeZone, missed, catchUpWindow, identifier or metadata)"));
    }
  }
  auto string_field = [&](const char* field, std::string* out) -> absl::Status {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_string() || it->get<std::string>().empty()) {
      return Bad(absl::StrCat(path, ".", field), "a non-empty string");
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  ScheduleDecl d;
  d.name = key;
  d.options.schedule_id = key;
  if (absl::Status s = string_field("cron", &d.cron); !s.ok()) return s;
  if (d.cron.empty()) return Bad(path + ".cron", "a cron expression (required)");
  if (absl::Status s = string_field("name", &d.name); !s.ok()) return s;
  if (absl::Status s = string_field("queue", &d.options.job.queue); !s.ok()) return s;
  if (absl::Status s = string_field("identifier", &d.options.job.identifier); !s.ok()) return s;
  if (absl::Status s = string_field("timeZone", &d.options.time_zone); !s.ok()) return s;
  if (auto it = j.find("data"); it != j.end() && !it->is_null()) {
    d.data = it->is_string() ? it->get<std::string>() : it->dump();
  }
  if (auto it = j.find("priority"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Bad(path + ".priority", "an integer");
    d.options.job.priority = it->get<int>();
  }
  if (auto it = j.find("maxAttempts"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 1000000) {
      return Bad(path + ".maxAttempts", "an integer from 1 to 1000000");
    }
    d.options.job.max_attempts = it->get<int>();
  }
  if (auto it = j.find("timeout"); it != j.end() && !it->is_null()) {
    auto t = DurationField(*it, path + ".timeout");
    if (!t.ok()) return t.status();
    d.options.job.timeout = *t;
  }
  if (auto it = j.find("catchUpWindow"); it != j.end() && !it->is_null()) {
    auto t = DurationField(*it, path + ".catchUpWindow");
    if (!t.ok()) return t.status();
    d.options.catch_up_window = *t;
  }
  if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad(path + ".metadata", "an object of strings");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return Bad(absl::StrCat(path, ".metadata.", k), "a string");
      d.options.job.metadata.emplace(k, v.get<std::string>());
    }
    if (absl::Status s = ValidateMetadata(d.options.job.metadata); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", std::string(s.message())));
    }
  }
  if (auto it = j.find("missed"); it != j.end() && !it->is_null()) {
    if (*it == "skip") {
      d.options.missed = MissedFires::kSkip;
    } else if (*it == "runOnce") {
      d.options.missed = MissedFires::kRunOnce;
    } else {
      return Bad(path + ".missed", "\"skip\" or \"runOnce\"");
    }
  }
  if (auto parsed = core::CronSchedule::Parse(d.cron, d.options.time_zone); !parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", std::string(parsed.status().message())));
  }
  return d;
}

}  // namespace

absl::StatusOr<std::vector<ScheduleDecl>> ParseSchedules(const json& value) {
  std::vector<ScheduleDecl> out;
  if (value.is_null()) return out;
  if (!value.is_object()) {
    return Bad(std::string(key::kSchedules), "an object of schedules by id");
  }
  for (const auto& [id, spec] : value.items()) {
    auto d = ParseOne(id, spec);
    if (!d.ok()) return d.status();
    out.push_back(*std::move(d));
  }
  return out;
}

std::vector<ScheduleDecl> SchedulesOf(const Config& config) {
  const Setting* s = config.Get(key::kSchedules);
  if (s == nullptr) return {};
  auto parsed = ParseSchedules(s->value);
  return parsed.ok() ? *std::move(parsed) : std::vector<ScheduleDecl>{};
}

absl::Status DefineSchedules(const std::vector<ScheduleDecl>& schedules, Queue& queue) {
  for (const ScheduleDecl& d : schedules) {
    if (absl::Status s = queue.Every(d.name, d.cron, d.data, d.options); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(std::string(key::kSchedules), ".", d.options.schedule_id, ": ",
                                 std::string(s.message())));
    }
  }
  return absl::OkStatus();
}

}  // namespace popqueue::config
