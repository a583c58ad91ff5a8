// Opens the Store named by a database URL. The one place that knows which
// backends are compiled in (one line each in registry.cc).
#ifndef POPQUEUE_STORE_REGISTRY_H_
#define POPQUEUE_STORE_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace popqueue::store {

struct StoreConfig {
  std::string url;         // sqlite:// postgres:// mongodb:// redis://
  std::string db_name;     // database (PostgreSQL, MongoDB); see docs/store-contract.md
  std::string collection;  // table / collection / key prefix
};

// Opens the store and runs its migrations. InvalidArgument for unknown schemes
// or malformed URLs and names, Unavailable when the server cannot be reached.
absl::StatusOr<std::shared_ptr<Store>> OpenStore(const StoreConfig& config);

// The schemes compiled into this build, e.g. "sqlite, postgres".
std::string SupportedSchemes();

// Checks that a table/collection/prefix name is a plain identifier:
// [A-Za-z_][A-Za-z0-9_]{0,62}. InvalidArgument naming `what` otherwise.
absl::Status ValidateIdentifierName(std::string_view what, std::string_view name);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_REGISTRY_H_
