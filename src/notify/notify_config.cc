#include "notify/notify_config.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace popqueue::notify {
namespace {

using nlohmann::json;

// Errors quote the key path and what was expected, never the value (it may be
// a secret).
absl::Status Bad(const std::string& path, const std::string& expected) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": expected ", expected));
}

absl::Status CheckObject(const json& j, const std::string& path,
                         std::initializer_list<const char*> known) {
  if (!j.is_object()) return Bad(path, "an object");
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".", key, ": unknown key (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status GetString(const json& j, const char* key, const std::string& path, bool required,
                       std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Bad(absl::StrCat(path, ".", key), "a string (required)");
    return absl::OkStatus();
  }
  if (!it->is_string()) return Bad(absl::StrCat(path, ".", key), "a string");
  *out = it->get<std::string>();
  if (required && out->empty()) {
    return Bad(absl::StrCat(path, ".", key), "a non-empty string");
  }
  return absl::OkStatus();
}

absl::Status GetBool(const json& j, const char* key, const std::string& path, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return Bad(absl::StrCat(path, ".", key), "true or false");
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status GetInt(const json& j, const char* key, const std::string& path, int64_t min,
                    int64_t max, int64_t* out, bool* present = nullptr) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max) {
    return Bad(absl::StrCat(path, ".", key), absl::StrCat("an integer from ", min, " to ", max));
  }
  *out = it->get<int64_t>();
  if (present != nullptr) *present = true;
  return absl::OkStatus();
}

absl::Status GetMillis(const json& j, const char* key, const std::string& path, int64_t min_ms,
                       absl::Duration* out) {
  int64_t ms = absl::ToInt64Milliseconds(*out);
  if (absl::Status s = GetInt(j, key, path, min_ms, int64_t{24} * 3600 * 1000, &ms); !s.ok()) {
    return s;
  }
  *out = absl::Milliseconds(ms);
  return absl::OkStatus();
}

bool IsHttpUrl(const std::string& url) {
  for (const char* scheme : {"http://", "https://"}) {
    if (absl::StartsWithIgnoreCase(url, scheme) && url.size() > std::strlen(scheme)) {
      return true;
    }
  }
  return false;
}

absl::Status ParseDelivery(const json& j, const std::string& path, DeliveryPolicy* d) {
  int64_t attempts = d->max_attempts;
  if (absl::Status s = GetInt(j, "maxAttempts", path, 1, 100, &attempts); !s.ok()) return s;
  d->max_attempts = static_cast<int>(attempts);
  if (absl::Status s = GetMillis(j, "timeoutMs", path, 1, &d->timeout); !s.ok()) return s;
  if (absl::Status s = GetMillis(j, "backoffMs", path, 0, &d->backoff); !s.ok()) return s;
  if (absl::Status s = GetMillis(j, "maxBackoffMs", path, 0, &d->max_backoff); !s.ok()) {
    return s;
  }
  if (d->max_backoff < d->backoff) {
    return Bad(absl::StrCat(path, ".maxBackoffMs"), "a value >= backoffMs");
  }
  return absl::OkStatus();
}

absl::Status ParseEvents(const json& j, const std::string& path, std::set<std::string>* events) {
  auto it = j.find("events");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  const std::string where = absl::StrCat(path, ".events");
  const std::string expected = absl::StrCat("a list of \"", kEventJobDead, "\", \"",
                                            kEventJobFailed, "\", \"", kEventQueueBacklog, "\"");
  if (!it->is_array()) return Bad(where, expected);
  events->clear();
  for (const json& e : *it) {
    if (!e.is_string()) return Bad(where, expected);
    std::string name = e.get<std::string>();
    if (name != kEventJobDead && name != kEventJobFailed && name != kEventQueueBacklog) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown event \"", name, "\"; expected ", expected));
    }
    events->insert(std::move(name));
  }
  return absl::OkStatus();
}

absl::StatusOr<WebhookConfig> ParseWebhook(const json& j, const std::string& path) {
  if (absl::Status s = CheckObject(j, path,
                                   {"url", "secret", "caFile", "timeoutMs", "maxAttempts",
                                    "backoffMs", "maxBackoffMs", "events"});
      !s.ok()) {
    return s;
  }
  WebhookConfig c;
  if (absl::Status s = GetString(j, "url", path, true, &c.url); !s.ok()) return s;
  if (!IsHttpUrl(c.url)) return Bad(absl::StrCat(path, ".url"), "an http(s) URL");
  if (absl::Status s = GetString(j, "secret", path, false, &c.secret); !s.ok()) return s;
  if (absl::Status s = GetString(j, "caFile", path, false, &c.ca_file); !s.ok()) return s;
  if (absl::Status s = ParseDelivery(j, path, &c.delivery); !s.ok()) return s;
  if (absl::Status s = ParseEvents(j, path, &c.events); !s.ok()) return s;
  return c;
}

bool LooksLikeAddress(const std::string& a) {
  size_t at = a.find('@');
  return at != std::string::npos && at > 0 && at + 1 < a.size() &&
         a.find_first_of(" <>\r\n,") == std::string::npos;
}

absl::StatusOr<EmailConfig> ParseEmail(const json& j, const std::string& path) {
  if (absl::Status s = CheckObject(j, path,
                                   {"smtpConfig", "from", "to", "subjectPrefix", "timeoutMs",
                                    "maxAttempts", "backoffMs", "maxBackoffMs", "events"});
      !s.ok()) {
    return s;
  }
  EmailConfig c;
  const std::string smtp_path = absl::StrCat(path, ".smtpConfig");
  auto smtp = j.find("smtpConfig");
  if (smtp == j.end()) return Bad(smtp_path, "an object (required)");
  if (absl::Status s = CheckObject(
          *smtp, smtp_path,
          {"host", "port", "secure", "starttls", "auth", "caFile", "insecureSkipVerify"});
      !s.ok()) {
    return s;
  }
  SmtpConfig& sc = c.smtp;
  if (absl::Status s = GetString(*smtp, "host", smtp_path, true, &sc.host); !s.ok()) return s;
  if (absl::Status s = GetBool(*smtp, "secure", smtp_path, &sc.secure); !s.ok()) return s;
  if (absl::Status s = GetBool(*smtp, "starttls", smtp_path, &sc.starttls); !s.ok()) return s;
  int64_t port = sc.secure ? 465 : 587;
  if (absl::Status s = GetInt(*smtp, "port", smtp_path, 1, 65535, &port); !s.ok()) return s;
  sc.port = static_cast<int>(port);
  if (absl::Status s = GetString(*smtp, "caFile", smtp_path, false, &sc.ca_file); !s.ok()) {
    return s;
  }
  if (absl::Status s = GetBool(*smtp, "insecureSkipVerify", smtp_path, &sc.insecure_skip_verify);
      !s.ok()) {
    return s;
  }
  if (auto auth = smtp->find("auth"); auth != smtp->end() && !auth->is_null()) {
    const std::string auth_path = absl::StrCat(smtp_path, ".auth");
    if (absl::Status s = CheckObject(*auth, auth_path, {"user", "pass"}); !s.ok()) return s;
    if (absl::Status s = GetString(*auth, "user", auth_path, true, &sc.user); !s.ok()) return s;
    if (absl::Status s = GetString(*auth, "pass", auth_path, false, &sc.password); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = GetString(j, "from", path, true, &c.from); !s.ok()) return s;
  if (!LooksLikeAddress(c.from)) {
    return Bad(absl::StrCat(path, ".from"), "an address like queue@example.com");
  }
  const std::string to_path = absl::StrCat(path, ".to");
  auto to = j.find("to");
  if (to != j.end() && to->is_string()) {
    c.to.push_back(to->get<std::string>());
  } else if (to != j.end() && to->is_array()) {
    for (const json& a : *to) {
      if (!a.is_string()) return Bad(to_path, "an address or a list of addresses");
      c.to.push_back(a.get<std::string>());
    }
  } else {
    return Bad(to_path, "an address or a list of addresses (required)");
  }
  if (c.to.empty()) return Bad(to_path, "at least one address");
  for (const std::string& a : c.to) {
    if (!LooksLikeAddress(a)) {
      return absl::InvalidArgumentError(
          absl::StrCat(to_path, ": \"", a, "\" is not an address like ops@example.com"));
    }
  }
  if (absl::Status s = GetString(j, "subjectPrefix", path, false, &c.subject_prefix); !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseDelivery(j, path, &c.delivery); !s.ok()) return s;
  if (absl::Status s = ParseEvents(j, path, &c.events); !s.ok()) return s;
  return c;
}

absl::StatusOr<SlackConfig> ParseSlack(const json& j, const std::string& path) {
  if (absl::Status s = CheckObject(j, path,
                                   {"token", "channel", "apiBaseUrl", "caFile", "timeoutMs",
                                    "maxAttempts", "backoffMs", "maxBackoffMs", "events"});
      !s.ok()) {
    return s;
  }
  SlackConfig c;
  if (absl::Status s = GetString(j, "token", path, true, &c.token); !s.ok()) return s;
  if (absl::Status s = GetString(j, "channel", path, true, &c.channel); !s.ok()) return s;
  if (absl::Status s = GetString(j, "apiBaseUrl", path, false, &c.api_base_url); !s.ok()) {
    return s;
  }
  if (!IsHttpUrl(c.api_base_url)) {
    return Bad(absl::StrCat(path, ".apiBaseUrl"), "an http(s) URL");
  }
  while (!c.api_base_url.empty() && c.api_base_url.back() == '/') c.api_base_url.pop_back();
  if (absl::Status s = GetString(j, "caFile", path, false, &c.ca_file); !s.ok()) return s;
  if (absl::Status s = ParseDelivery(j, path, &c.delivery); !s.ok()) return s;
  if (absl::Status s = ParseEvents(j, path, &c.events); !s.ok()) return s;
  return c;
}

}  // namespace

absl::StatusOr<NotifyConfig> ParseNotifyConfig(const json& j) {
  const std::string path = "notificationConfig";
  NotifyConfig c;
  if (j.is_null()) return c;
  if (absl::Status s =
          CheckObject(j, path, {"queueCapacity", "backlog", "webhook", "email", "slack"});
      !s.ok()) {
    return s;
  }
  int64_t capacity = static_cast<int64_t>(c.queue_capacity);
  if (absl::Status s = GetInt(j, "queueCapacity", path, 1, 1000000, &capacity); !s.ok()) {
    return s;
  }
  c.queue_capacity = static_cast<size_t>(capacity);
  if (auto it = j.find("webhook"); it != j.end() && !it->is_null()) {
    absl::StatusOr<WebhookConfig> w = ParseWebhook(*it, path + ".webhook");
    if (!w.ok()) return w.status();
    c.webhook = *std::move(w);
  }
  if (auto it = j.find("email"); it != j.end() && !it->is_null()) {
    absl::StatusOr<EmailConfig> e = ParseEmail(*it, path + ".email");
    if (!e.ok()) return e.status();
    c.email = *std::move(e);
  }
  if (auto it = j.find("slack"); it != j.end() && !it->is_null()) {
    absl::StatusOr<SlackConfig> s = ParseSlack(*it, path + ".slack");
    if (!s.ok()) return s.status();
    c.slack = *std::move(s);
  }
  if (auto it = j.find("backlog"); it != j.end() && !it->is_null()) {
    const std::string bpath = path + ".backlog";
    if (absl::Status s =
            CheckObject(*it, bpath, {"threshold", "clearThreshold", "checkIntervalMs"});
        !s.ok()) {
      return s;
    }
    BacklogConfig b;
    bool has_threshold = false;
    if (absl::Status s =
            GetInt(*it, "threshold", bpath, 0, INT64_MAX, &b.threshold, &has_threshold);
        !s.ok()) {
      return s;
    }
    if (!has_threshold) return Bad(bpath + ".threshold", "an integer >= 0 (required)");
    int64_t clear = 0;
    bool has_clear = false;
    if (absl::Status s = GetInt(*it, "clearThreshold", bpath, 0, b.threshold, &clear, &has_clear);
        !s.ok()) {
      return s;
    }
    if (has_clear) b.clear_threshold = clear;
    if (absl::Status s = GetMillis(*it, "checkIntervalMs", bpath, 100, &b.check_interval);
        !s.ok()) {
      return s;
    }
    c.backlog = b;
  }
  // A backlog check with no channel that wants it would silently do nothing.
  if (c.backlog) {
    bool wanted = (c.webhook && c.webhook->events.count(kEventQueueBacklog)) ||
                  (c.email && c.email->events.count(kEventQueueBacklog)) ||
                  (c.slack && c.slack->events.count(kEventQueueBacklog));
    if (!wanted) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".backlog: no channel lists \"", kEventQueueBacklog,
                       "\" in its events; add it to webhook.events, email.events or slack.events"));
    }
  }
  return c;
}

}  // namespace popqueue::notify
