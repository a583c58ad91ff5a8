// Access control shared by the REST server, the gRPC service and the
// configuration: token scopes, the `id:scope:secret` token syntax, and the
// policy that decides whether a presented bearer token may call a route or an
// RPC. See docs/security.md for the scope of every route and RPC.
//
// Scopes nest: admin ⊃ write ⊃ read. A route or RPC needs one scope
// (kOpen = none); a token of that scope or a larger one may call it.
//
//   auto policy = AccessPolicy::Create({.tokens = {{"ci", Scope::kWrite, "..."}}});
//   auto caller = policy->Authorize(request_authorization_header, Scope::kRead);
//   if (!caller.ok()) ... // Unauthenticated (401) or PermissionDenied (403)
//
// Thread-safety: an AccessPolicy is immutable after Create and may be shared.
#ifndef POPQUEUE_SERVER_ACCESS_H_
#define POPQUEUE_SERVER_ACCESS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace popqueue::server {

enum class Scope {
  kOpen = 0,   // no token needed, ever (health, the dashboard's files)
  kRead = 1,   // job data: lists, details, payloads, errors, results, stats
  kWrite = 2,  // add jobs and work them: enqueue, the worker protocol
  kAdmin = 3,  // change what exists: requeue, cancel, delete, pause, resume
};

// "open", "read", "write", "admin".
std::string_view ScopeName(Scope scope);
// "read", "write" or "admin" (case-sensitive); nullopt otherwise.
std::optional<Scope> ParseScope(std::string_view text);

struct AccessToken {
  std::string id;  // who, in the audit log: [A-Za-z0-9_.-]{1,64}
  Scope scope = Scope::kRead;
  std::string secret;  // what the caller presents; never logged
};

// The smallest secret accepted in a scoped token.
inline constexpr size_t kMinSecretLength = 16;

// Parses "id:scope:secret" (the secret may itself contain ':'). Errors are
// InvalidArgument "<field>: expected ..." naming id, scope or secret; they
// never contain the secret, nor the scope text (a misplaced colon would make
// part of the secret the scope).
absl::StatusOr<AccessToken> ParseTokenEntry(std::string_view entry);

struct AccessOptions {
  // The original single token (`token`, --token): scope admin, id "token".
  // "" = none.
  std::string legacy_token;
  // The scoped tokens (`tokens`, --tokens). Ids and secrets must be unique.
  std::vector<AccessToken> tokens;
  // Whether read routes and RPCs are open. nullopt = the default: open
  // unless scoped tokens are configured (with only the legacy token, reads
  // stay open as they always were).
  std::optional<bool> public_reads;
};

// Who called, once authorized.
struct Caller {
  std::string id;  // the token's id; "-" when no token was needed or given
  Scope scope = Scope::kOpen;
};

class AccessPolicy {
 public:
  // InvalidArgument for duplicate ids or secrets, an entry that does not
  // parse, or public_reads == false without any token.
  static absl::StatusOr<AccessPolicy> Create(const AccessOptions& options);

  // True when some call needs a token.
  bool enabled() const { return !tokens_.empty(); }
  bool public_reads() const { return public_reads_; }
  // The scope a route or RPC tagged `needed` actually asks for: kOpen for
  // reads when they are public, and for everything when no token exists.
  Scope Effective(Scope needed) const;

  // Decides one call. `authorization` is the value of the Authorization
  // header (REST) or the "authorization" metadata (gRPC): "Bearer <token>"
  // (any case of "Bearer"), or "" when none was sent. Returns the caller, or
  // Unauthenticated (no token, another scheme, or an unknown token) or
  // PermissionDenied (a valid token of too small a scope; the message names
  // the token's id, its scope and the scope needed); both carry the scope
  // needed (RequiredScopeOf). Messages never contain what the caller sent.
  // Every configured secret is compared, in time independent of where or
  // whether it matches. On an open call a token is not needed, and a wrong
  // one is ignored. `who`, when given, is set to the id of the presented
  // token if it is valid, even when its scope is too small ("-" otherwise),
  // for the audit line of a refused call.
  absl::StatusOr<Caller> Authorize(std::string_view authorization, Scope needed,
                                   std::string* who = nullptr) const;

 private:
  struct Entry {
    std::string id;
    Scope scope;
    std::array<unsigned char, 32> digest;  // SHA-256 of the secret
  };
  std::vector<Entry> tokens_;
  bool public_reads_ = true;
};

// The scope needed, carried by the errors of AccessPolicy::Authorize (for
// REST error bodies); nullopt for other statuses.
std::optional<Scope> RequiredScopeOf(const absl::Status& status);

// The audit log: one INFO line per mutation, allowed or refused, through
// the process's logger, the same shape for REST and gRPC:
//   audit: token=ci POST /api/jobs/12/cancel -> 200 job=12
//   audit: token=worker-1 grpc CompleteJob -> OK job=12
// `who` is the token id ("-" for none), `what` the method and path (or
// "grpc <Method>"), `result` the HTTP status or gRPC code name, `target`
// which job(s) or queue ("" for none). The caller escapes what it took from
// the request; payloads, query strings, headers and secrets never appear.
void LogAudit(std::string_view who, std::string_view what, std::string_view result,
              std::string_view target);

// "job=1", or "jobs=3 ids=1,2,3" (at most 20 ids listed), then " queue=a" or
// " queues=a,b" (distinct names, C-escaped, at most 20) when `queues` is not
// empty.
std::string AuditTarget(const std::vector<int64_t>& ids, const std::vector<std::string>& queues);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_ACCESS_H_
