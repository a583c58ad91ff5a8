// Fuzz target: config.json as every popqueue command loads it
// (src/config/config.h), and the same bytes as each key's environment/flag
// text (value.h, limits.h).
//
// Beyond "no crash":
// - every error says what is wrong;
// - secrets never show: when the input loads, its token, the passwords of
//   its URLs and the secret fields of notificationConfig are replaced by a
//   marker and it is loaded again; neither the `config check` report (the
//   JSON one and the text cells) nor an error message may contain the marker;
// - a value's text form parses back to the same value, so what `config
//   check` prints can be passed to the flag.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/keys.h"
#include "config/redact.h"
#include "config/value.h"

namespace {

using nlohmann::json;
using popqueue::config::Config;
using popqueue::config::KeySpec;
using popqueue::config::LoadOptions;

constexpr std::string_view kMarker = "zq~s3cr3t~qz";

absl::StatusOr<Config> Load(std::string text) {
  LoadOptions options;
  options.config_text = std::move(text);
  options.working_dir = "/nonexistent";
  return popqueue::config::LoadConfig(options);
}

// Everything `config check` prints for `c`, secrets redacted.
std::string Report(const Config& c) {
  std::string out = c.ToRedactedJson().dump(-1, ' ', false, json::error_handler_t::replace);
  for (const KeySpec& spec : popqueue::config::AllKeys()) {
    if (const popqueue::config::Setting* s = c.Get(spec.key)) {
      out += "\n" + popqueue::config::RedactedText(spec, s->value);
    }
  }
  out += "\n" + popqueue::config::RedactUrl(c.db_url());
  out += "\n" + popqueue::config::RedactUrl(c.cache_url());
  for (const std::string& note : c.notes()) out += "\n" + note;
  return out;
}

// "scheme://user:pw@host/..." with the marker as password and as a secret
// query parameter.
std::string WithUrlSecret(std::string url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string::npos) end = url.size();
  size_t at = url.rfind('@', end == 0 ? 0 : end - 1);
  std::string userinfo = "u:" + std::string(kMarker) + "@";
  if (at != std::string::npos && at >= start) {
    url.replace(start, at + 1 - start, userinfo);
  } else {
    url.insert(start, userinfo);
  }
  if (url.find('#') == std::string::npos) {
    url += (url.find('?', start) == std::string::npos ? "?" : "&");
    url += "password=" + std::string(kMarker);
  }
  return url;
}

// The secret fields of notificationConfig (docs/configuration.md#secrets).
void InjectNotificationSecrets(json& value) {
  if (value.is_array()) {
    for (json& item : value) InjectNotificationSecrets(item);
    return;
  }
  if (!value.is_object()) return;
  for (auto& [k, v] : value.items()) {
    if (k == "pass" || k == "password" || k == "secret" || k == "token" || k == "apiKey") {
      if (!v.is_object() && !v.is_null()) v = std::string(kMarker);
    } else if (k == "url" && v.is_string()) {
      v = "https://hooks.example.com/" + std::string(kMarker);
    } else {
      InjectNotificationSecrets(v);
    }
  }
}

void CheckSecretsHidden(const json& input) {
  // An input that spells the marker itself proves nothing.
  if (input.dump(-1, ' ', false, json::error_handler_t::replace).find(kMarker) !=
      std::string::npos) {
    return;
  }
  json secret = input;
  secret["token"] = std::string(kMarker);
  for (const char* key : {"dbUrl", "postgresUrl", "cacheUrl", "redisUrl", "memcachedUrl"}) {
    if (secret.contains(key) && secret[key].is_string()) {
      secret[key] = WithUrlSecret(secret[key].get<std::string>());
    }
  }
  if (secret.contains("notificationConfig")) {
    InjectNotificationSecrets(secret["notificationConfig"]);
  }
  absl::StatusOr<Config> loaded = Load(secret.dump());
  std::string shown = loaded.ok() ? Report(*loaded) : std::string(loaded.status().message());
  if (shown.find(kMarker) != std::string::npos) std::abort();
}

// The text syntax of every key: errors say what is wrong, and a value's
// text form reads back as the same value.
void CheckTextSyntax(std::string_view text) {
  for (const KeySpec& spec : popqueue::config::AllKeys()) {
    absl::StatusOr<json> v = popqueue::config::ParseText(spec, text);
    if (!v.ok()) {
      if (v.status().message().empty()) std::abort();
      continue;
    }
    std::string formatted = popqueue::config::FormatValue(spec, *v);
    absl::StatusOr<json> again = popqueue::config::ParseText(spec, formatted);
    if (!again.ok() || *again != *v) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Config> loaded = Load(text);
  if (!loaded.ok()) {
    if (loaded.status().message().empty()) std::abort();
  } else {
    (void)Report(*loaded);
    (void)loaded->ToQueueConfig();
    // Loaded: an object at most kMaxJsonDepth deep.
    CheckSecretsHidden(json::parse(text));
  }
  if (size <= 1024) CheckTextSyntax(text);
  return 0;
}
