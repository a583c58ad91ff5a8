// OpenCoordinator: the one place that knows every compiled-in coordinator
// (one line per backend).
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/redis/redis_no_tls.h"
#include "coord/coordinator.h"
#include "coord/local/local_coordinator.h"
#if POPQUEUE_WITH_MEMCACHED
#include "coord/memcached/memcached_coordinator.h"
#endif
#if POPQUEUE_WITH_REDIS
#include "coord/redis/redis_coordinator.h"
#endif

namespace popqueue::coord {
namespace {

using Opener = std::function<absl::StatusOr<std::shared_ptr<Coordinator>>(const std::string& url,
                                                                          const std::string& ns)>;

struct Backend {
  const char* scheme;
  Opener open;
};

template <typename T>
Opener OpenerOf() {
  return [](const std::string& url,
            const std::string& ns) -> absl::StatusOr<std::shared_ptr<Coordinator>> {
    auto c = T::Open(url, ns);
    if (!c.ok()) return c.status();
    return std::shared_ptr<Coordinator>(std::move(*c));
  };
}

const std::vector<Backend>& Backends() {
  static const auto* backends = new std::vector<Backend> {
#if POPQUEUE_WITH_REDIS
    {"redis", OpenerOf<RedisCoordinator>()}, {"redis+cluster", OpenerOf<RedisCoordinator>()},
#endif
#if POPQUEUE_WITH_MEMCACHED
        {"memcached", OpenerOf<MemcachedCoordinator>()},
#endif
  };
  return *backends;
}

}  // namespace

std::string SupportedCoordinatorSchemes() {
  std::vector<std::string> names;
  for (const Backend& b : Backends()) names.push_back(b.scheme);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::shared_ptr<Coordinator>> OpenCoordinator(const std::string& cache_url,
                                                             const std::string& ns) {
  if (cache_url.empty()) return std::make_shared<LocalCoordinator>();
  size_t sep = cache_url.find("://");
  if (sep == std::string::npos || sep == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cache URL: expected scheme://..., e.g. redis://localhost:6379 or "
                        "memcached://localhost:11211 (supported: %s), or \"\" for none",
                        SupportedCoordinatorSchemes()));
  }
  std::string scheme = cache_url.substr(0, sep);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "rediss") return absl::InvalidArgumentError(redis::kNoTlsMessage);
  for (const Backend& b : Backends()) {
    if (scheme == b.scheme) return b.open(cache_url, ns);
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "cache URL: unknown scheme \"%s\"; this build supports: %s (or \"\" for none)", scheme,
      SupportedCoordinatorSchemes().empty() ? "none" : SupportedCoordinatorSchemes()));
}

}  // namespace popqueue::coord
