// The Redis job store (redis:// database URLs): the opener. The class is
// RedisStore (redis_store_impl.h); its design is explained at the top of
// redis_store.cc, the data layout and scripts in docs/redis-store.md.
#ifndef POPQUEUE_STORE_REDIS_REDIS_STORE_H_
#define POPQUEUE_STORE_REDIS_REDIS_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/url.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {

// redis://[[user]:password@]host[:port][/db][?timeout_ms=&connect_timeout_ms=
// &pool_size=&wait=], or a Redis Cluster: redis://h1:p1,h2:p2/?cluster=1 or
// redis+cluster://h1:p1,h2:p2 (common/redis/redis_client.h). Keys start
// with "{<config.collection>}:" or "{<config.collection>:<queue>}:"; db_name
// is not used (the URL path selects the database number). Runs Migrate().
absl::StatusOr<std::shared_ptr<Store>> OpenRedisStore(const Url& url, const StoreConfig& config);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_REDIS_REDIS_STORE_H_
