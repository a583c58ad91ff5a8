#include "store/registry.h"

#include <cctype>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/redis/redis_no_tls.h"
#include "common/url.h"
#include "store/sqlite/sqlite_store.h"
#if POPQUEUE_WITH_POSTGRES
#include "store/postgres/postgres_store.h"
#endif
#if POPQUEUE_WITH_MONGODB
#include "store/mongodb/mongodb_store.h"
#endif
#if POPQUEUE_WITH_REDIS
#include "store/redis/redis_store.h"
#endif

namespace popqueue::store {
namespace {

using Opener =
    std::function<absl::StatusOr<std::shared_ptr<Store>>(const Url&, const StoreConfig&)>;

struct Backend {
  const char* scheme;
  Opener open;
};

const std::vector<Backend>& Backends() {
  static const auto* backends = new std::vector<Backend> {
    {"sqlite", OpenSqliteStore},
#if POPQUEUE_WITH_POSTGRES
        {"postgres", OpenPostgresStore}, {"postgresql", OpenPostgresStore},
#endif
#if POPQUEUE_WITH_MONGODB
        {"mongodb", OpenMongoStore},
#endif
#if POPQUEUE_WITH_REDIS
        {"redis", OpenRedisStore}, {"redis+cluster", OpenRedisStore},
#endif
  };
  return *backends;
}

}  // namespace

std::string SupportedSchemes() {
  std::vector<std::string> names;
  for (const Backend& b : Backends()) names.push_back(b.scheme);
  return absl::StrJoin(names, ", ");
}

absl::Status ValidateIdentifierName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 &&
            (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(what), " \"", std::string(name),
                   "\" is not a valid name: expected 1-63 characters of A-Z a-z 0-9 _, "
                   "not starting with a digit"));
}

absl::StatusOr<std::shared_ptr<Store>> OpenStore(const StoreConfig& config) {
  // MongoDB URLs may list several hosts (replica sets): libmongoc parses
  // them in the backend, which reads nothing from the Url.
  absl::StatusOr<Url> url = absl::StartsWithIgnoreCase(config.url, "mongodb://")
                                ? absl::StatusOr<Url>(Url{.scheme = "mongodb"})
                                : ParseUrl(config.url);
  if (!url.ok()) return url.status();
  if (absl::Status s = ValidateIdentifierName("collection", config.collection); !s.ok()) {
    return s;
  }
  if (url->scheme == "rediss") return absl::InvalidArgumentError(redis::kNoTlsMessage);
  for (const Backend& b : Backends()) {
    if (b.scheme == url->scheme) return b.open(*url, config);
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported database URL scheme \"", url->scheme,
                                                 "://\" in \"", url->Redacted(),
                                                 "\"; this build supports: ", SupportedSchemes()));
}

}  // namespace popqueue::store
