#include "config/validate.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/redis/redis_no_tls.h"
#include "common/url.h"
#include "config/redact.h"
#include "config/value.h"
#include "server/access.h"
#include "store/registry.h"

namespace popqueue::config {
namespace {

// The URL schemes each URL key accepts.
std::vector<std::string> SchemesFor(std::string_view key) {
  if (key == key::kDbUrl) {
    return {"sqlite", "postgres", "postgresql", "mongodb", "redis", "rediss", "redis+cluster"};
  }
  if (key == key::kPostgresUrl) return {"postgres", "postgresql"};
  // The original README: REDIS_URL is "Redis or Memcached connection URL".
  if (key == key::kRedisUrl) {
    return {"redis", "rediss", "redis+cluster", "memcached"};
  }
  if (key == key::kMemcachedUrl) return {"memcached"};
  return {"redis", "rediss", "redis+cluster", "memcached"};  // cacheUrl
}

bool HasControl(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

absl::Status ValidateUrl(const KeySpec& spec, const std::string& url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) {
    // ParseUrl quotes the (redacted) URL and says what is wrong.
    return absl::InvalidArgumentError(parsed.status().message());
  }
  if (parsed->scheme == "rediss") {
    return absl::InvalidArgumentError(redis::kNoTlsMessage);
  }
  std::vector<std::string> schemes = SchemesFor(spec.key);
  for (const std::string& s : schemes) {
    if (parsed->scheme == s) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("expected a URL with scheme %s://", absl::StrJoin(schemes, ":// or ")));
}

// "HOST:PORT" with PORT in 0..65535 ("[::]:50051" for IPv6).
bool IsHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = -1;
  return absl::SimpleAtoi(address.substr(colon + 1), &port) && port >= 0 && port <= 65535;
}

std::string Origin(const Config& config, std::string_view key) {
  const Setting* s = config.Get(key);
  if (s == nullptr) return "unset";
  return s->source == Source::kDefault ? "default" : s->origin;
}

// Both of tlsCert and tlsKey or neither, grpcClientCa only with them, and
// the files load (server/tls.h): a server must not start to fail its first
// handshake.
absl::Status ValidateTls(const Config& config) {
  const bool cert = config.IsSet(key::kTlsCert), tls_key = config.IsSet(key::kTlsKey);
  if (cert != tls_key) {
    std::string_view given = cert ? key::kTlsCert : key::kTlsKey;
    std::string_view missing = cert ? key::kTlsKey : key::kTlsCert;
    return absl::InvalidArgumentError(
        absl::StrFormat("%s (%s) is set but %s is not: TLS needs both the certificate and its key",
                        given, Origin(config, given), missing));
  }
  if (!cert) {
    if (config.IsSet(key::kGrpcClientCa)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("grpcClientCa (%s) needs tlsCert and tlsKey: client certificates are "
                          "verified only over TLS",
                          Origin(config, key::kGrpcClientCa)));
    }
    return absl::OkStatus();
  }
  server::TlsFile failed = server::TlsFile::kCert;
  absl::Status st = server::CheckTlsFiles(TlsFilesOf(config), &failed);
  if (st.ok()) return st;
  std::string_view what = failed == server::TlsFile::kCert  ? key::kTlsCert
                          : failed == server::TlsFile::kKey ? key::kTlsKey
                                                            : key::kGrpcClientCa;
  return absl::InvalidArgumentError(
      absl::StrFormat("invalid %s (%s): %s", what, Origin(config, what), st.message()));
}

}  // namespace

absl::Status ValidateValue(const KeySpec& spec, const nlohmann::json& value) {
  const std::string_view k = spec.key;
  if (spec.type == ValueType::kUrl) {
    return ValidateUrl(spec, value.get<std::string>());
  }
  if (spec.type == ValueType::kString) {
    const std::string& s = value.get_ref<const std::string&>();
    if (k == key::kToken) {
      if (HasControl(s)) {
        return absl::InvalidArgumentError("expected a token without control characters");
      }
      return absl::OkStatus();
    }
    if (k == key::kTlsCert || k == key::kTlsKey || k == key::kGrpcClientCa) {
      if (s.empty() || HasControl(s) || s.size() > 4096) {
        return absl::InvalidArgumentError("expected a file path without control characters");
      }
      return absl::OkStatus();  // the files: ValidateRelations
    }
    if (s.empty() || HasControl(s) || s.size() > 255) {
      return absl::InvalidArgumentError(
          "expected a non-empty string of at most 255 characters without "
          "control characters");
    }
    if (k == key::kCollectionName) {
      absl::Status st = store::ValidateIdentifierName("collectionName", s);
      if (!st.ok()) {
        return absl::InvalidArgumentError(
            "expected a plain name: letters, digits and _, starting with a "
            "letter or _");
      }
    }
    if (k == key::kMetricsAddress && !s.empty() && !IsHostPort(s)) {
      return absl::InvalidArgumentError(
          "expected HOST:PORT with a port from 0 to 65535, e.g. 0.0.0.0:9090");
    }
    if (k == key::kGrpcAddress && !IsHostPort(s)) {
      return absl::InvalidArgumentError(
          "expected HOST:PORT with a port from 0 to 65535, e.g. "
          "0.0.0.0:50051");
    }
    return absl::OkStatus();
  }
  if (k == key::kTokens) {
    size_t i = 0;
    for (const nlohmann::json& item : value) {
      ++i;
      absl::StatusOr<server::AccessToken> t =
          server::ParseTokenEntry(item.get_ref<const std::string&>());
      if (!t.ok()) {
        return absl::InvalidArgumentError(absl::StrFormat("entry %d: %s", i, t.status().message()));
      }
    }
    return absl::OkStatus();
  }
  if (spec.type == ValueType::kDuration) {
    bool may_be_zero =
        k == key::kRetainCompleted || k == key::kRetainCancelled || k == key::kRetainDead;
    if (!may_be_zero && value.get<int64_t>() <= 0) {
      return absl::InvalidArgumentError("expected a positive duration such as 500ms, 30s or 5m");
    }
  }
  return absl::OkStatus();
}

absl::Status ResolveConnections(Config& config) {
  // The job store: the general key wins at any level.
  if (config.IsSet(key::kDbUrl)) {
    config.db_url_key_ = std::string(key::kDbUrl);
    if (config.IsSet(key::kPostgresUrl)) {
      config.notes_.push_back(
          absl::StrFormat("postgresUrl (%s) is ignored: dbUrl (%s) is set and wins",
                          Origin(config, key::kPostgresUrl), Origin(config, key::kDbUrl)));
    }
  } else if (config.IsSet(key::kPostgresUrl)) {
    config.db_url_key_ = std::string(key::kPostgresUrl);
  } else {
    config.db_url_key_ = std::string(key::kDbUrl);  // its default
  }
  config.db_url_ = config.GetString(config.db_url_key_);

  // The coordinator.
  const bool redis = config.IsSet(key::kRedisUrl);
  const bool memcached = config.IsSet(key::kMemcachedUrl);
  if (config.IsSet(key::kCacheUrl)) {
    config.cache_url_key_ = std::string(key::kCacheUrl);
    for (std::string_view k : {key::kRedisUrl, key::kMemcachedUrl}) {
      if (!config.IsSet(k)) continue;
      config.notes_.push_back(absl::StrFormat("%s (%s) is ignored: cacheUrl (%s) is set and wins",
                                              k, Origin(config, k),
                                              Origin(config, key::kCacheUrl)));
    }
  } else if (redis) {
    // The original README's config.json sets both: Redis coordinates.
    config.cache_url_key_ = std::string(key::kRedisUrl);
    if (memcached) {
      config.notes_.push_back(
          absl::StrFormat("memcachedUrl (%s) is ignored: redisUrl (%s) is set and wins; "
                          "choose Memcached with cacheUrl or --cache-url",
                          Origin(config, key::kMemcachedUrl), Origin(config, key::kRedisUrl)));
    }
  } else if (memcached) {
    config.cache_url_key_ = std::string(key::kMemcachedUrl);
  }
  if (!config.cache_url_key_.empty()) {
    config.cache_url_ = config.GetString(config.cache_url_key_);
  }
  return absl::OkStatus();
}

absl::Status ValidateRelations(const Config& config) {
  // Ids and secrets unique, the token key's id free, publicReads false only
  // with a token: the server's own rules, checked at load.
  absl::StatusOr<server::AccessPolicy> access =
      server::AccessPolicy::Create(AccessOptionsOf(config));
  if (!access.ok()) {
    absl::string_view message = access.status().message();
    std::string_view what = key::kTokens;
    if (absl::ConsumePrefix(&message, "publicReads: ")) what = key::kPublicReads;
    absl::ConsumePrefix(&message, "tokens: ");
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid %s (%s): %s", what, Origin(config, what), message));
  }
  if (absl::Status s = ValidateTls(config); !s.ok()) return s;
  if (config.GetDuration(key::kHeartbeatInterval) >= config.GetDuration(key::kLeaseDuration)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("heartbeatInterval (%s, %s) must be shorter than leaseDuration (%s, "
                        "%s), or leases expire between heartbeats",
                        absl::FormatDuration(config.GetDuration(key::kHeartbeatInterval)),
                        Origin(config, key::kHeartbeatInterval),
                        absl::FormatDuration(config.GetDuration(key::kLeaseDuration)),
                        Origin(config, key::kLeaseDuration)));
  }
  if (config.GetDuration(key::kBackoffBase) > config.GetDuration(key::kBackoffCap)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("backoffBase (%s, %s) must not exceed backoffCap (%s, %s)",
                        absl::FormatDuration(config.GetDuration(key::kBackoffBase)),
                        Origin(config, key::kBackoffBase),
                        absl::FormatDuration(config.GetDuration(key::kBackoffCap)),
                        Origin(config, key::kBackoffCap)));
  }
  return absl::OkStatus();
}

server::TlsFiles TlsFilesOf(const Config& config) {
  return {.cert_file = config.GetString(key::kTlsCert),
          .key_file = config.GetString(key::kTlsKey),
          .client_ca_file = config.GetString(key::kGrpcClientCa)};
}

server::AccessOptions AccessOptionsOf(const Config& config) {
  server::AccessOptions options{.legacy_token = config.GetString(key::kToken)};
  for (const std::string& entry : config.GetList(key::kTokens)) {
    absl::StatusOr<server::AccessToken> t = server::ParseTokenEntry(entry);
    if (t.ok()) options.tokens.push_back(*std::move(t));  // checked at load
  }
  if (config.IsSet(key::kPublicReads)) options.public_reads = config.GetBool(key::kPublicReads);
  return options;
}

}  // namespace popqueue::config
