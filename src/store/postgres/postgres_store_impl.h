// PostgresStore: the Store on a PostgreSQL table. Private to
// src/store/postgres; the rest of the library opens it through
// OpenPostgresStore (postgres_store.h). The design and concurrency model are
// explained at the top of postgres_store.cc.
#ifndef POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_IMPL_H_
#define POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_IMPL_H_

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

namespace popqueue::store::postgres {

struct PostgresStoreOptions {
  int pool_size = 8;
  bool migrate = true;  // run Migrate() on open
};

class PostgresStore : public Store {
 public:
  static absl::StatusOr<std::shared_ptr<PostgresStore>> Open(
      const Url& url, const StoreConfig& config, const PostgresStoreOptions& options = {});
  PostgresStore(SqlCatalog catalog, ConnSettings settings, int pool_size);

  bool SupportsNotify() const override { return true; }

 protected:
  absl::Status DoMigrate() override;

  absl::StatusOr<JobInsertManyResult> DoJobInsertMany(const JobInsertManyParams& params) override;
  absl::StatusOr<JobClaimResult> DoJobClaim(const JobClaimParams& params) override;
  absl::StatusOr<JobIdList> DoJobCompleteMany(const JobCompleteManyParams& params) override;
  absl::StatusOr<JobIdList> DoJobFailMany(const JobFailManyParams& params) override;
  absl::StatusOr<JobHeartbeatManyResult> DoJobHeartbeatMany(
      const JobHeartbeatManyParams& params) override;
  absl::StatusOr<JobRescueExpiredResult> DoJobRescueExpired(
      const JobRescueExpiredParams& params) override;

  absl::StatusOr<Job> DoJobGet(const JobGetParams& params) override;
  absl::StatusOr<Job> DoJobRequeue(const JobRequeueParams& params) override;
  absl::StatusOr<Job> DoJobCancel(const JobCancelParams& params) override;
  absl::Status DoJobDelete(const JobDeleteParams& params) override;
  absl::StatusOr<JobPage> DoJobList(const JobListParams& params) override;
  absl::StatusOr<std::vector<QueueCounts>> DoJobCountByState() override;
  absl::StatusOr<int> DoJobDeleteFinishedBefore(
      const JobDeleteFinishedBeforeParams& params) override;

  absl::Status DoQueuePause(const QueueNameParams& params) override;
  absl::Status DoQueueResume(const QueueNameParams& params) override;
  absl::StatusOr<std::vector<QueueInfo>> DoQueueList() override;
  absl::StatusOr<QueueOldestDueResult> DoQueueOldestDue(
      const QueueOldestDueParams& params) override;

  absl::StatusOr<bool> DoLeaderAttemptElect(const LeaderAttemptElectParams& params) override;
  absl::Status DoLeaderResign(const LeaderResignParams& params) override;

  absl::Status DoWorkerRegister(const WorkerRegisterParams& params) override;
  absl::Status DoWorkerHeartbeat(const WorkerHeartbeatParams& params) override;
  absl::Status DoWorkerDeregister(const WorkerDeregisterParams& params) override;
  absl::StatusOr<std::vector<WorkerInfo>> DoWorkerList(const WorkerListParams& params) override;

  absl::StatusOr<bool> DoCronFireOnce(const CronFireOnceParams& params) override;
  absl::Status DoWorkflowInsert(const WorkflowInsertParams& params,
                                const std::vector<WorkflowRow>& rows) override;
  absl::StatusOr<std::vector<Job>> DoWorkflowGet(const WorkflowGetParams& params) override;

  absl::StatusOr<int> DoSubscribe(
      std::function<void(const std::string& queue)> on_available) override;
  void DoUnsubscribe(int handle) override;

 public:
  // Folds the count deltas now (normally done by readers and the rescuer).
  absl::Status CompactCounts();

  const SqlCatalog& catalog() const { return catalog_; }
  const std::string& where() const { return pool_.where(); }

 private:
  // Runs embedded statement `name` on a pooled connection (prepared),
  // retrying serialization failures and deadlocks a few times.
  absl::StatusOr<Result> Run(std::string_view name, const Params& params, std::string_view what);
  // Runs `body` inside BEGIN/COMMIT on one connection, retrying the whole
  // transaction on kAborted.
  absl::Status InTransaction(std::string_view what,
                             const std::function<absl::Status(Pool::Lease&)>& body);
  absl::StatusOr<Job> SingleJobChange(std::string_view name, const Params& params,
                                      std::string_view what, JobId id);
  // Releases or cancels (transitively) the dependants of workflow jobs
  // `ids` that just completed (ok) or ended dead/cancelled, inside the
  // caller's transaction (postgres_workflow.cc).
  absl::Status PropagateFinished(Pool::Lease& lease, const std::vector<JobId>& ids, bool ok,
                                 absl::Time now);
  absl::Status SetPaused(const QueueNameParams& params, bool paused);

  SqlCatalog catalog_;
  Pool pool_;
  Listener listener_;
  std::atomic<int64_t> last_compact_us_{0};
};

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_POSTGRES_STORE_IMPL_H_
