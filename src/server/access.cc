// Tokens are kept only as SHA-256 digests: a presented token is hashed once
// and its digest compared with every configured digest by CRYPTO_memcmp, all
// of them, with no early exit. The time taken thus depends neither on how
// many bytes of a guess are right, nor on the length of any secret, nor on
// which token (if any) matched.
#include "server/access.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"

namespace popqueue::server {
namespace {

constexpr char kLegacyId[] = "token";
constexpr char kScopePayload[] = "popqueue.dev/required-scope";

std::array<unsigned char, 32> Digest(std::string_view text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

bool IsSecretChar(char c) {
  // Printable ASCII without space and ',' (the list separator of
  // POPQUEUE_TOKENS and --tokens).
  return c > 0x20 && c < 0x7f && c != ',';
}

absl::Status WithScope(absl::Status status, Scope needed) {
  status.SetPayload(kScopePayload, absl::Cord(std::string(ScopeName(needed))));
  return status;
}

}  // namespace

std::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kOpen: return "open";
    case Scope::kRead: return "read";
    case Scope::kWrite: return "write";
    case Scope::kAdmin: return "admin";
  }
  return "admin";
}

std::optional<Scope> ParseScope(std::string_view text) {
  for (Scope s : {Scope::kRead, Scope::kWrite, Scope::kAdmin}) {
    if (text == ScopeName(s)) return s;
  }
  return std::nullopt;
}

absl::StatusOr<AccessToken> ParseTokenEntry(std::string_view entry) {
  size_t first = entry.find(':');
  size_t second = first == std::string_view::npos ? first : entry.find(':', first + 1);
  if (second == std::string_view::npos) {
    return absl::InvalidArgumentError("expected id:scope:secret (two ':' separators)");
  }
  AccessToken token;
  std::string_view id = entry.substr(0, first);
  if (id.empty() || id.size() > 64 || !std::all_of(id.begin(), id.end(), IsIdChar)) {
    return absl::InvalidArgumentError("id: expected 1-64 letters, digits, '_', '.' or '-'");
  }
  token.id = std::string(id);
  std::optional<Scope> scope = ParseScope(entry.substr(first + 1, second - first - 1));
  if (!scope) {
    return absl::InvalidArgumentError(
        absl::StrFormat("scope of token \"%s\": expected read, write or admin", token.id));
  }
  token.scope = *scope;
  std::string_view secret = entry.substr(second + 1);
  if (secret.size() < kMinSecretLength ||
      !std::all_of(secret.begin(), secret.end(), IsSecretChar)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "secret of token \"%s\": expected at least %d printable characters without spaces "
        "or ',' (e.g. openssl rand -hex 32)",
        token.id, kMinSecretLength));
  }
  token.secret = std::string(secret);
  return token;
}

absl::StatusOr<AccessPolicy> AccessPolicy::Create(const AccessOptions& options) {
  AccessPolicy policy;
  std::set<std::string> ids;
  std::set<std::array<unsigned char, 32>> digests;
  auto add = [&](const std::string& id, Scope scope, const std::string& secret) -> absl::Status {
    if (!ids.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tokens: the id \"%s\" is used twice (ids name tokens in the audit log%s)", id,
          id == kLegacyId ? "; the single token key has the id \"token\"" : ""));
    }
    Entry e{.id = id, .scope = scope, .digest = Digest(secret)};
    if (!digests.insert(e.digest).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tokens: token \"%s\" has the same secret as another token", id));
    }
    policy.tokens_.push_back(std::move(e));
    return absl::OkStatus();
  };
  for (const AccessToken& t : options.tokens) {
    // Checked again here for callers that build tokens in code.
    auto parsed = ParseTokenEntry(t.id + ":" + std::string(ScopeName(t.scope)) + ":" + t.secret);
    if (!parsed.ok() || t.scope == Scope::kOpen) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tokens: %s", t.scope == Scope::kOpen ? "scope: expected read, write or admin"
                                                : parsed.status().message()));
    }
    if (absl::Status s = add(t.id, t.scope, t.secret); !s.ok()) return s;
  }
  if (!options.legacy_token.empty()) {
    if (absl::Status s = add(kLegacyId, Scope::kAdmin, options.legacy_token); !s.ok()) return s;
  }
  policy.public_reads_ = options.public_reads.value_or(options.tokens.empty());
  if (!policy.public_reads_ && policy.tokens_.empty()) {
    return absl::InvalidArgumentError(
        "publicReads: false needs a token to read with (tokens, or token)");
  }
  return policy;
}

Scope AccessPolicy::Effective(Scope needed) const {
  if (tokens_.empty()) return Scope::kOpen;
  if (needed == Scope::kRead && public_reads_) return Scope::kOpen;
  return needed;
}

absl::StatusOr<Caller> AccessPolicy::Authorize(std::string_view authorization, Scope needed,
                                               std::string* who) const {
  if (who != nullptr) *who = "-";
  Scope effective = Effective(needed);
  constexpr std::string_view kBearer = "Bearer ";
  bool bearer = authorization.size() > kBearer.size() &&
                absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kBearer.size()),
                                       absl::string_view(kBearer.data(), kBearer.size()));
  if (effective == Scope::kOpen) return Caller{.id = "-"};
  if (!bearer) {
    return WithScope(
        absl::UnauthenticatedError(
            authorization.empty()
                ? absl::StrFormat("needs a bearer token of scope %s", ScopeName(effective))
                : std::string("authorization must be \"Bearer <token>\"")),
        effective);
  }
  std::array<unsigned char, 32> given = Digest(authorization.substr(kBearer.size()));
  const Entry* match = nullptr;
  for (const Entry& e : tokens_) {
    // Every entry is compared; the branch only records the result.
    bool same = CRYPTO_memcmp(given.data(), e.digest.data(), given.size()) == 0;
    if (same) match = &e;
  }
  if (match == nullptr) {
    return WithScope(absl::UnauthenticatedError("the bearer token is not valid"), effective);
  }
  if (who != nullptr) *who = match->id;
  if (match->scope < effective) {
    return WithScope(absl::PermissionDeniedError(
                         absl::StrFormat("token \"%s\" has scope %s; this call needs scope %s",
                                         match->id, ScopeName(match->scope), ScopeName(effective))),
                     effective);
  }
  return Caller{.id = match->id, .scope = match->scope};
}

void LogAudit(std::string_view who, std::string_view what, std::string_view result,
              std::string_view target) {
  Logf(LogLevel::kInfo, "audit: token=%s %s -> %s%s%s", who, what, result,
       target.empty() ? "" : " ", target);
}

std::string AuditTarget(const std::vector<int64_t>& ids, const std::vector<std::string>& queues) {
  constexpr size_t kMaxListed = 20;
  std::string out;
  if (ids.size() == 1) {
    out = absl::StrCat("job=", ids[0]);
  } else {
    out = absl::StrCat("jobs=", ids.size(), " ids=");
    for (size_t i = 0; i < ids.size() && i < kMaxListed; ++i) {
      absl::StrAppend(&out, i ? "," : "", ids[i]);
    }
    if (ids.size() > kMaxListed) out += ",...";
  }
  std::vector<std::string> distinct;
  for (const std::string& q : queues) {
    if (std::find(distinct.begin(), distinct.end(), q) == distinct.end()) distinct.push_back(q);
  }
  if (distinct.empty()) return out;
  absl::StrAppend(&out, distinct.size() == 1 ? " queue=" : " queues=");
  for (size_t i = 0; i < distinct.size() && i < kMaxListed; ++i) {
    absl::StrAppend(&out, i ? "," : "", absl::CHexEscape(distinct[i]));
  }
  if (distinct.size() > kMaxListed) out += ",...";
  return out;
}

std::optional<Scope> RequiredScopeOf(const absl::Status& status) {
  auto payload = status.GetPayload(kScopePayload);
  if (!payload) return std::nullopt;
  std::string text(*payload);
  if (text == "open") return Scope::kOpen;
  return ParseScope(text);
}

}  // namespace popqueue::server
