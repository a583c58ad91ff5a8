// The embedded default store: one SQLite file in WAL mode.
#ifndef POPQUEUE_STORE_SQLITE_SQLITE_STORE_H_
#define POPQUEUE_STORE_SQLITE_SQLITE_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/url.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {

// url.path is the database file ("./popqueue.db", "/abs/x.db", ":memory:").
// The table is config.collection. Runs Migrate().
absl::StatusOr<std::shared_ptr<Store>> OpenSqliteStore(const Url& url, const StoreConfig& config);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_SQLITE_SQLITE_STORE_H_
