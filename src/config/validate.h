// The checks of configuration values beyond their type (value.h): URL
// schemes, names, positive durations, and the rules between keys (which URL
// is the job store, which the coordinator; heartbeat shorter than lease).
//
// Thread-safety: pure functions.
#ifndef POPQUEUE_CONFIG_VALIDATE_H_
#define POPQUEUE_CONFIG_VALIDATE_H_

#include "absl/status/status.h"
#include "config/config.h"
#include "config/keys.h"
#include "nlohmann/json.hpp"
#include "server/access.h"
#include "server/tls.h"

namespace popqueue::config {

// InvalidArgument("expected ...") when the normalized `value` of `spec` is
// out of its domain (the caller names the key and the source).
absl::Status ValidateValue(const KeySpec& spec, const nlohmann::json& value);

// Picks the job store URL (dbUrl > postgresUrl > default) and the
// coordinator URL (cacheUrl > redisUrl > memcachedUrl) and records notes for
// the losers.
absl::Status ResolveConnections(Config& config);

// Rules between keys: heartbeatInterval < leaseDuration, backoffBase <=
// backoffCap, the access rules of token, tokens and publicReads, and the
// TLS files (tlsCert with tlsKey, both loading and matching; grpcClientCa
// only with them, holding a CA certificate).
absl::Status ValidateRelations(const Config& config);

// The access settings (token, tokens, publicReads) for the servers'
// options (server/access.h).
server::AccessOptions AccessOptionsOf(const Config& config);

// tlsCert, tlsKey and grpcClientCa for the servers' options.
server::TlsFiles TlsFilesOf(const Config& config);

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_VALIDATE_H_
