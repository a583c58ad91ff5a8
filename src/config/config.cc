#include "config/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/errno_text.h"
#include "config/limits.h"
#include "config/redact.h"
#include "config/schedules.h"
#include "config/validate.h"
#include "config/value.h"

extern char** environ;

namespace popqueue::config {
namespace {

// "\"port\" in /etc/popqueue/config.json", "--port", "WORKER_TIMEOUT".
std::string Describe(const Setting& s) {
  switch (s.source) {
    case Source::kFlag: return "flag " + s.origin;
    case Source::kEnv: return "environment variable " + s.origin;
    case Source::kFile: return "file " + s.origin;
    case Source::kDefault: return "default";
  }
  return s.origin;
}

// The raw value for an error message: secrets hidden, long values cut.
std::string Quote(const KeySpec& spec, const std::string& raw) {
  std::string shown = spec.secret                    ? std::string(kRedacted)
                      : spec.type == ValueType::kUrl ? RedactUrl(raw)
                                                     : raw;
  if (spec.type == ValueType::kObject) shown = "(JSON)";
  if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
  std::string out = "\"";
  for (char c : shown) {
    out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  }
  return out + "\"";
}

absl::Status Invalid(const KeySpec& spec, const Setting& where, const std::string& raw,
                     absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrFormat("invalid %s (%s) %s: %s", spec.key, Describe(where), Quote(spec, raw), why));
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string UnknownKeyMessage(const std::string& name, const std::string& file) {
  const KeySpec* best = nullptr;
  size_t best_distance = 4;  // suggest only close names
  for (const KeySpec& spec : AllKeys()) {
    size_t d = EditDistance(name, spec.key);
    if (d < best_distance) {
      best_distance = d;
      best = &spec;
    }
  }
  std::string hint = best != nullptr ? absl::StrFormat(" (did you mean \"%s\"?)", best->key) : "";
  return absl::StrFormat(
      "unknown key \"%s\" in %s%s; the keys are listed in "
      "docs/configuration.md and by `popqueue config check`",
      name, file, hint);
}

// Finds the config.json to read: "" when there is none (only allowed when
// it was not asked for explicitly).
absl::StatusOr<std::string> ConfigPath(const LoadOptions& options) {
  std::string path = options.config_path;
  std::string what = "--config";
  if (path.empty()) {
    auto env = options.env.find("POPQUEUE_CONFIG");
    if (env != options.env.end() && !env->second.empty()) {
      path = env->second;
      what = "POPQUEUE_CONFIG";
    }
  }
  std::error_code ec;
  if (path.empty()) {
    std::filesystem::path local = std::filesystem::path(options.working_dir) / "config.json";
    if (!std::filesystem::exists(local, ec)) return std::string();
    return local.lexically_normal().string();
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid %s \"%s\": expected a readable config.json file (%s)", what, path,
                        ec ? ec.message() : "no such file"));
  }
  return path;
}

absl::StatusOr<nlohmann::json> ParseJsonText(const std::string& text, const std::string& path) {
  absl::StatusOr<nlohmann::json> parsed = ParseJsonBounded(text);
  if (!parsed.ok()) {
    // The message names the line and column.
    return absl::InvalidArgumentError(absl::StrFormat("%s is %s", path, parsed.status().message()));
  }
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: expected a JSON object {\"dbUrl\": ..., ...} at the top level", path));
  }
  return parsed;
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot read config file %s: %s", path, ErrnoText(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseJsonText(text.str(), path);
}

absl::Status Apply(std::map<std::string, Setting, std::less<>>& settings, const KeySpec& spec,
                   Setting where, const std::string& raw, absl::StatusOr<nlohmann::json> parsed) {
  if (!parsed.ok()) return Invalid(spec, where, raw, parsed.status().message());
  where.value = *std::move(parsed);
  settings[std::string(spec.key)] = std::move(where);
  return absl::OkStatus();
}

}  // namespace

std::string_view SourceName(Source source) {
  switch (source) {
    case Source::kDefault: return "default";
    case Source::kFile: return "config.json";
    case Source::kEnv: return "env";
    case Source::kFlag: return "flag";
  }
  return "default";
}

StringMap ProcessEnvironment() {
  StringMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<Config> LoadConfig(const LoadOptions& options) {
  Config config;
  auto& settings = config.settings_;
  // Defaults.
  for (const KeySpec& spec : AllKeys()) {
    if (spec.default_text.empty()) continue;
    Setting s{.source = Source::kDefault, .origin = "default"};
    absl::Status st = Apply(settings, spec, s, std::string(spec.default_text),
                            ParseText(spec, spec.default_text));
    if (!st.ok()) return absl::InternalError(st.message());  // a bad table
  }
  // config.json.
  absl::StatusOr<std::string> path;
  if (options.config_text) {
    path = options.config_path.empty() ? std::string("config.json") : options.config_path;
  } else {
    path = ConfigPath(options);
  }
  if (!path.ok()) return path.status();
  config.file_ = *path;
  if (!path->empty()) {
    absl::StatusOr<nlohmann::json> file =
        options.config_text ? ParseJsonText(*options.config_text, *path) : ReadJsonFile(*path);
    if (!file.ok()) return file.status();
    for (const auto& [name, value] : file->items()) {
      const KeySpec* spec = FindKey(name);
      if (spec == nullptr) {
        return absl::InvalidArgumentError(UnknownKeyMessage(name, *path));
      }
      if (value.is_null() && spec->type != ValueType::kObject) continue;
      Setting s{.source = Source::kFile, .origin = *path};
      std::string raw = value.is_string() ? value.get<std::string>() : value.dump();
      absl::Status st = Apply(settings, *spec, s, raw, ParseJson(*spec, value));
      if (!st.ok()) return st;
    }
  }
  // Environment.
  for (const KeySpec& spec : AllKeys()) {
    if (spec.env.empty()) continue;
    auto it = options.env.find(spec.env);
    if (it == options.env.end() || it->second.empty()) continue;
    Setting s{.source = Source::kEnv, .origin = std::string(spec.env)};
    absl::Status st = Apply(settings, spec, s, it->second, ParseText(spec, it->second));
    if (!st.ok()) return st;
  }
  // Flags.
  for (const KeySpec& spec : AllKeys()) {
    if (spec.flag.empty()) continue;
    auto it = options.flags.find(spec.flag);
    if (it == options.flags.end()) continue;
    Setting s{.source = Source::kFlag, .origin = "--" + std::string(spec.flag)};
    absl::StatusOr<nlohmann::json> v = ParseText(spec, it->second);
    if (spec.negated_flag && v.ok() && v->is_boolean()) {
      v = nlohmann::json(!v->get<bool>());
    }
    absl::Status st = Apply(settings, spec, s, it->second, std::move(v));
    if (!st.ok()) return st;
  }
  // Check every value, then the keys that depend on each other.
  for (const auto& [name, setting] : settings) {
    const KeySpec* spec = FindKey(name);
    absl::Status st = ValidateValue(*spec, setting.value);
    if (!st.ok()) {
      return Invalid(*spec, setting, FormatValue(*spec, setting.value), st.message());
    }
  }
  if (absl::Status st = ResolveConnections(config); !st.ok()) return st;
  if (absl::Status st = ValidateRelations(config); !st.ok()) return st;
  if (const Setting* s = config.Get(key::kSchedules); s != nullptr) {
    if (auto parsed = ParseSchedules(s->value); !parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid schedules (%s): %s", Describe(*s), parsed.status().message()));
    }
  }
  if (options.validate_notifications && config.IsSet(key::kNotificationConfig)) {
    absl::Status st = options.validate_notifications(config.notification_config());
    if (!st.ok()) {
      const Setting* s = config.Get(key::kNotificationConfig);
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid notificationConfig (%s): %s", Describe(*s), st.message()));
    }
  }
  return config;
}

const Setting* Config::Get(std::string_view key) const {
  auto it = settings_.find(key);
  return it == settings_.end() ? nullptr : &it->second;
}

bool Config::IsSet(std::string_view key) const {
  const Setting* s = Get(key);
  return s != nullptr && s->source != Source::kDefault;
}

std::string Config::GetString(std::string_view key) const {
  const Setting* s = Get(key);
  return s != nullptr && s->value.is_string() ? s->value.get<std::string>() : "";
}

int64_t Config::GetInt(std::string_view key) const {
  const Setting* s = Get(key);
  return s != nullptr && s->value.is_number_integer() ? s->value.get<int64_t>() : 0;
}

bool Config::GetBool(std::string_view key) const {
  const Setting* s = Get(key);
  return s != nullptr && s->value.is_boolean() && s->value.get<bool>();
}

absl::Duration Config::GetDuration(std::string_view key) const {
  return absl::Milliseconds(GetInt(key));
}

std::vector<std::string> Config::GetList(std::string_view key) const {
  std::vector<std::string> out;
  const Setting* s = Get(key);
  if (s == nullptr || !s->value.is_array()) return out;
  for (const auto& item : s->value) out.push_back(item.get<std::string>());
  return out;
}

const nlohmann::json& Config::notification_config() const {
  static const nlohmann::json kNull;
  const Setting* s = Get(key::kNotificationConfig);
  return s == nullptr ? kNull : s->value;
}

QueueConfig Config::ToQueueConfig() const {
  QueueConfig q;
  q.db_url = db_url_;
  q.cache_url = cache_url_;
  q.db_name = GetString(key::kDbName);
  q.collection = GetString(key::kCollectionName);
  q.retries = static_cast<int>(GetInt(key::kRetries));
  q.max_payload_bytes = static_cast<size_t>(GetInt(key::kMaxPayloadBytes));
  WorkerOptions& w = q.worker;
  w.worker_id = GetString(key::kWorkerId);
  w.default_timeout = GetDuration(key::kWorkerTimeout);
  w.default_concurrency = static_cast<int>(GetInt(key::kConcurrency));
  // The default queue list is {"default"}, which is also what an empty list
  // means to the runtime; keep it empty unless the user chose.
  if (IsSet(key::kQueues)) w.queues = GetList(key::kQueues);
  w.poll_interval = GetDuration(key::kPollInterval);
  w.lease = GetDuration(key::kLeaseDuration);
  w.heartbeat_interval = GetDuration(key::kHeartbeatInterval);
  w.rescue_interval = GetDuration(key::kRescueInterval);
  w.shutdown_deadline = GetDuration(key::kShutdownDeadline);
  w.stop_grace = GetDuration(key::kStopGrace);
  w.retry.base = GetDuration(key::kBackoffBase);
  w.retry.cap = GetDuration(key::kBackoffCap);
  w.retain_completed = GetDuration(key::kRetainCompleted);
  w.retain_cancelled = GetDuration(key::kRetainCancelled);
  w.retain_dead = GetDuration(key::kRetainDead);
  w.max_concurrency = static_cast<int>(GetInt(key::kMaxConcurrency));
  w.max_held_jobs = static_cast<int>(GetInt(key::kMaxHeldJobs));
  w.max_prefetch = static_cast<int>(GetInt(key::kMaxPrefetch));
  if (const Setting* s = Get(key::kQueueConcurrency)) {
    w.concurrency = CountMapFromJson(s->value);
  }
  if (const Setting* s = Get(key::kQueueRateLimits)) {
    w.queue_rate_limits = RateLimitsFromJson(s->value);
  }
  if (const Setting* s = Get(key::kJobRateLimits)) {
    w.job_rate_limits = RateLimitsFromJson(s->value);
  }
  if (const Setting* s = Get(key::kResourceLimits)) {
    w.resource = ResourceLimitsFromJson(s->value);
  }
  return q;
}

nlohmann::json Config::ToRedactedJson() const {
  nlohmann::json out;
  out["file"] = file_.empty() ? nlohmann::json(nullptr) : nlohmann::json(file_);
  out["store"] = {{"url", RedactUrl(db_url_)}, {"key", db_url_key_}};
  out["cache"] = cache_url_.empty()
                     ? nlohmann::json(nullptr)
                     : nlohmann::json{{"url", RedactUrl(cache_url_)}, {"key", cache_url_key_}};
  out["notes"] = notes_;
  nlohmann::json list = nlohmann::json::object();
  for (const KeySpec& spec : AllKeys()) {
    const Setting* s = Get(spec.key);
    nlohmann::json item;
    if (s == nullptr) {
      item = {{"value", nullptr}, {"source", "unset"}, {"origin", ""}};
    } else {
      nlohmann::json value = s->value;
      if (spec.secret) {
        value = RedactedText(spec, s->value);
      } else if (spec.type == ValueType::kUrl) {
        value = RedactUrl(s->value.get<std::string>());
      } else if (spec.type == ValueType::kObject) {
        value = RedactJson(s->value);
      } else if (spec.type == ValueType::kDuration || spec.type == ValueType::kCountMap ||
                 spec.type == ValueType::kRateLimits || spec.type == ValueType::kResourceLimits) {
        value = FormatValue(spec, s->value);  // the env/flag syntax
      }
      item = {{"value", value}, {"source", SourceName(s->source)}, {"origin", s->origin}};
    }
    list[std::string(spec.key)] = item;
  }
  out["settings"] = list;
  return out;
}

}  // namespace popqueue::config
