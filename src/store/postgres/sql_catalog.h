// The PostgreSQL store's SQL, embedded at build time from migrations/*.sql
// and sql/*.sql and rendered for one collection: `{{table}}` becomes the
// quoted jobs table ("jobs") and `{{table_<suffix>}}` a quoted name derived
// from it ("jobs_queues", "jobs_claim_idx"). Values are never spliced in;
// every value is a bound parameter ($1..).
#ifndef POPQUEUE_STORE_POSTGRES_SQL_CATALOG_H_
#define POPQUEUE_STORE_POSTGRES_SQL_CATALOG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace popqueue::store::postgres {

struct Migration {
  int version = 0;   // the file's number: 1 for 001_jobs.sql
  std::string name;  // the file name
  std::string sql;   // rendered
};

class SqlCatalog {
 public:
  // InvalidArgument when `collection` is not an identifier or a derived name
  // would exceed PostgreSQL's 63-byte limit.
  static absl::StatusOr<SqlCatalog> Create(std::string_view collection);

  // The rendered statement of sql/<name>.sql; crashes for unknown names
  // (a programming error, caught by any test).
  const std::string& Query(std::string_view name) const;
  const std::vector<Migration>& migrations() const { return migrations_; }

  const std::string& collection() const { return collection_; }
  // The LISTEN/NOTIFY channel of this collection.
  const std::string& channel() const { return channel_; }
  // A stable advisory-lock key for `purpose` on this collection.
  int64_t LockKey(std::string_view purpose) const;

 private:
  std::string collection_;
  std::string channel_;
  std::map<std::string, std::string, std::less<>> queries_;
  std::vector<Migration> migrations_;
};

// Renders the placeholders of `text` for `collection` (exposed for tests).
absl::StatusOr<std::string> RenderSql(std::string_view text, std::string_view collection);

// A quoted SQL identifier: "name" with embedded quotes doubled.
std::string QuoteIdentifier(std::string_view name);

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_SQL_CATALOG_H_
