// The MongoDB store (libmongoc): one document per job. See docs/mongodb.md.
#ifndef POPQUEUE_STORE_MONGODB_MONGODB_STORE_H_
#define POPQUEUE_STORE_MONGODB_MONGODB_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/url.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {

// config.url is handed to the driver as is (every mongodb:// option works,
// including several hosts and replicaSet). The database is config.db_name;
// when that is empty, the URL's path names it, and "popqueue" otherwise. The
// URL's path keeps MongoDB's own meaning (the default authentication
// database). The jobs collection is config.collection; the queues, leaders,
// workers and cron_fires collections are named after it
// (<collection>_queues, ...). Creates the indexes (Migrate()).
absl::StatusOr<std::shared_ptr<Store>> OpenMongoStore(const Url& url, const StoreConfig& config);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_MONGODB_MONGODB_STORE_H_
