// The PostgreSQL store (libpq): the opener. The class is PostgresStore
// (postgres_store_impl.h); its design is explained at the top of
// postgres_store.cc, the schema, claim statement, notifications, reconnects
// and counts strategy in docs/postgres.md.
#ifndef POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_H_
#define POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/url.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {

// postgres:// or postgresql:// URLs. Without a path the database is
// config.db_name; the table is config.collection. Runs Migrate().
absl::StatusOr<std::shared_ptr<Store>> OpenPostgresStore(const Url& url, const StoreConfig& config);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_H_
