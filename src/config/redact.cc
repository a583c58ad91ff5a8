#include "config/redact.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/value.h"

namespace popqueue::config {
namespace {

bool IsSecretName(std::string_view name) {
  std::string n = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  n.erase(std::remove(n.begin(), n.end(), '_'), n.end());
  n.erase(std::remove(n.begin(), n.end(), '-'), n.end());
  static const char* const kSecret[] = {"pass",        "password",      "passwd", "pwd",
                                        "secret",      "token",         "apikey", "accesstoken",
                                        "sslpassword", "authorization", "auth"};
  for (const char* s : kSecret) {
    if (n == s) return true;
  }
  return false;
}

std::string RedactQuery(std::string_view query) {
  std::vector<std::string> parts;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(query.data(), query.size()), '&')) {
    size_t eq = part.find('=');
    absl::string_view name = part.substr(0, eq);
    if (eq != absl::string_view::npos && IsSecretName(std::string_view(name.data(), name.size()))) {
      parts.push_back(std::string(name) + "=" + kRedacted);
    } else {
      parts.emplace_back(part);
    }
  }
  return absl::StrJoin(parts, "&");
}

// "https://hooks.example.com/services/T/B/X?x=1" ->
// "https://hooks.example.com/***".
std::string CutUrlPath(const std::string& url) {
  std::string r = RedactUrl(url);
  size_t scheme = r.find("://");
  if (scheme == std::string::npos) return kRedacted;
  size_t path = r.find_first_of("/?#", scheme + 3);
  if (path == std::string::npos || r.substr(path) == "/") return r;
  return r.substr(0, path) + "/" + kRedacted;
}

}  // namespace

std::string RedactUrl(std::string_view url) {
  std::string out(url);
  size_t scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  size_t start = scheme + 3;
  size_t authority_end = out.find_first_of("/?#", start);
  if (authority_end == std::string::npos) authority_end = out.size();
  // The password ends at the last '@' of the authority (an unescaped '@' in
  // a password is a common mistake; hide it all the same).
  size_t at = out.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  if (at != std::string::npos && at >= start) {
    size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, kRedacted);
    }
  }
  size_t q = out.find('?', start);
  if (q != std::string::npos) {
    size_t hash = out.find('#', q);
    std::string tail = hash == std::string::npos ? "" : out.substr(hash);
    std::string query =
        out.substr(q + 1, hash == std::string::npos ? std::string::npos : hash - q - 1);
    out = out.substr(0, q + 1) + RedactQuery(query) + tail;
  }
  return out;
}

nlohmann::json RedactJson(const nlohmann::json& value) {
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(RedactJson(item));
    return out;
  }
  if (!value.is_object()) return value;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : value.items()) {
    if (IsSecretName(k) && !v.is_object() && !v.is_null()) {
      out[k] = kRedacted;
    } else if (absl::AsciiStrToLower(k) == "url" && v.is_string()) {
      out[k] = CutUrlPath(v.get<std::string>());
    } else {
      out[k] = RedactJson(v);
    }
  }
  return out;
}

std::string RedactedText(const KeySpec& spec, const nlohmann::json& value) {
  if (spec.secret && spec.type == ValueType::kList && value.is_array()) {
    // Token entries id:scope:secret keep their id and scope.
    std::vector<std::string> items;
    for (const auto& item : value) {
      std::string s = item.is_string() ? item.get<std::string>() : "";
      size_t first = s.find(':');
      size_t second = first == std::string::npos ? first : s.find(':', first + 1);
      items.push_back(second == std::string::npos ? std::string(kRedacted)
                                                  : s.substr(0, second + 1) + kRedacted);
    }
    return absl::StrJoin(items, ",");
  }
  if (spec.secret) {
    if (value.is_string() && value.get<std::string>().empty()) return "";
    return kRedacted;
  }
  switch (spec.type) {
    case ValueType::kUrl:
      return value.is_string() ? RedactUrl(value.get<std::string>()) : kRedacted;
    case ValueType::kObject: return FormatValue(spec, RedactJson(value));
    default: return FormatValue(spec, value);
  }
}

}  // namespace popqueue::config
