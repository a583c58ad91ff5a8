// Redaction of secrets for `popqueue config check`, logs and error messages:
// passwords in URLs, secret query parameters, tokens, and the secret fields
// of notificationConfig (smtp pass, Slack token, webhook secret, webhook URL
// paths, which often carry a token).
//
// Thread-safety: pure functions.
#ifndef POPQUEUE_CONFIG_REDACT_H_
#define POPQUEUE_CONFIG_REDACT_H_

#include <string>
#include <string_view>

#include "config/keys.h"
#include "nlohmann/json.hpp"

namespace popqueue::config {

inline constexpr char kRedacted[] = "***";

// "postgres://app:s3cret@db/app?sslpassword=x" ->
// "postgres://app:***@db/app?sslpassword=***". Works on the text, so a URL
// that does not parse is redacted too.
std::string RedactUrl(std::string_view url);

// Replaces secret fields anywhere in `value` (keys such as pass, password,
// secret, token, apiKey) by "***" and cuts the path of "url" fields to
// "/***".
nlohmann::json RedactJson(const nlohmann::json& value);

// The normalized `value` of `spec` as display text, secrets redacted.
std::string RedactedText(const KeySpec& spec, const nlohmann::json& value);

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_REDACT_H_
