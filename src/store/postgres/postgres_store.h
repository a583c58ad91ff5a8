// The PostgreSQL store (libpq). See docs/postgres.md for the schema, the
// claim statement, notifications, reconnects and the counts strategy.
//
// Times are stored as bigint microseconds since the Unix epoch; every value
// is a bound parameter of an embedded, prepared statement (sql/*.sql).
// Thread-safe: calls share a small connection pool (pg_pool.h); wake-ups come
// from one LISTEN connection (pg_listener.h).
#ifndef POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_H_
#define POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/url.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_listener.h"
#include "store/postgres/pg_pool.h"
#include "store/postgres/sql_catalog.h"
#include "store/registry.h"
#include "store/store.h"

namespace popqueue::store {

// postgres:// or postgresql:// URLs. Without a path the database is
// config.db_name; the table is config.collection. Runs Migrate().
absl::StatusOr<std::shared_ptr<Store>> OpenPostgresStore(
    const Url& url, const StoreConfig& config);

namespace pg {

struct PostgresStoreOptions {
  int pool_size = 8;
  bool migrate = true;  // run Migrate() on open
};

class PostgresStore : public Store {
 public:
  static absl::StatusOr<std::shared_ptr<PostgresStore>> Open(
      const Url& url, const StoreConfig& config,
      const PostgresStoreOptions& options = {});
  PostgresStore(SqlCatalog catalog, ConnSettings settings, int pool_size);

  absl::Status Migrate() override;

  absl::StatusOr<JobInsertManyResult> JobInsertMany(
      const JobInsertManyParams& params) override;
  absl::StatusOr<JobClaimResult> JobClaim(const JobClaimParams& params) override;
  absl::StatusOr<JobIdList> JobCompleteMany(
      const JobCompleteManyParams& params) override;
  absl::StatusOr<JobIdList> JobFailMany(const JobFailManyParams& params) override;
  absl::StatusOr<JobHeartbeatManyResult> JobHeartbeatMany(
      const JobHeartbeatManyParams& params) override;
  absl::StatusOr<int> JobRescueExpired(
      const JobRescueExpiredParams& params) override;

  absl::StatusOr<Job> JobGet(const JobGetParams& params) override;
  absl::StatusOr<Job> JobRequeue(const JobRequeueParams& params) override;
  absl::StatusOr<Job> JobCancel(const JobCancelParams& params) override;
  absl::Status JobDelete(const JobDeleteParams& params) override;
  absl::StatusOr<JobPage> JobList(const JobListParams& params) override;
  absl::StatusOr<std::vector<QueueCounts>> JobCountByState() override;
  absl::StatusOr<int> JobDeleteFinishedBefore(
      const JobDeleteFinishedBeforeParams& params) override;

  absl::Status QueuePause(const QueueNameParams& params) override;
  absl::Status QueueResume(const QueueNameParams& params) override;
  absl::StatusOr<std::vector<QueueInfo>> QueueList() override;

  absl::StatusOr<bool> LeaderAttemptElect(
      const LeaderAttemptElectParams& params) override;
  absl::Status LeaderResign(const LeaderResignParams& params) override;

  absl::Status WorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status WorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status WorkerDeregister(const WorkerDeregisterParams& params) override;
  absl::StatusOr<std::vector<WorkerInfo>> WorkerList(
      const WorkerListParams& params) override;

  absl::StatusOr<bool> CronFireOnce(const CronFireOnceParams& params) override;

  bool SupportsNotify() const override { return true; }
  absl::StatusOr<int> Subscribe(
      std::function<void(const std::string& queue)> on_available) override;
  void Unsubscribe(int handle) override;

  // Folds the count deltas now (normally done by readers and the rescuer).
  absl::Status CompactCounts();

  const SqlCatalog& catalog() const { return catalog_; }
  const std::string& where() const { return pool_.where(); }

 private:
  // Runs embedded statement `name` on a pooled connection (prepared),
  // retrying serialization failures and deadlocks a few times.
  absl::StatusOr<Result> Run(std::string_view name, const Params& params,
                             std::string_view what);
  // Runs `body` inside BEGIN/COMMIT on one connection, retrying the whole
  // transaction on kAborted.
  absl::Status InTransaction(
      std::string_view what,
      const std::function<absl::Status(Pool::Lease&)>& body);
  absl::StatusOr<Job> SingleJobChange(std::string_view name,
                                      const Params& params,
                                      std::string_view what, JobId id);
  absl::Status SetPaused(const QueueNameParams& params, bool paused);

  SqlCatalog catalog_;
  Pool pool_;
  Listener listener_;
  std::atomic<int64_t> last_compact_us_{0};
};

}  // namespace pg
}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_H_
