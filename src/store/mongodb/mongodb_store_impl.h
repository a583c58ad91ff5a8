// MongoStore: the Store on a MongoDB database. Private to src/store/mongodb;
// the rest of the library opens it through OpenMongoStore (mongodb_store.h).
// How each operation maps onto MongoDB is explained at the top of
// mongodb_store.cc; the operations live in one file per concern:
// mongodb_insert.cc, mongodb_claim.cc, mongodb_lease.cc (complete, fail,
// heartbeat, rescue), mongodb_admin.cc, mongodb_coord.cc (leadership,
// workers, cron).
#ifndef POPQUEUE_STORE_MONGODB_MONGODB_STORE_IMPL_H_
#define POPQUEUE_STORE_MONGODB_MONGODB_STORE_IMPL_H_

#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "store/mongodb/mongo_client.h"
#include "store/store.h"

namespace popqueue::store::mongodb {

class MongoStore final : public Store {
 public:
  struct Options {
    std::string url;         // handed to the driver as is
    std::string database;    // validated name
    std::string collection;  // validated name of the jobs collection
  };

  // Opens the client pool, asks the server what it is (buildInfo) and runs
  // Migrate() (Unavailable when no server answers within
  // serverSelectionTimeoutMS).
  static absl::StatusOr<std::shared_ptr<MongoStore>> Open(Options options);

  // Workers poll: wake-ups come from a coordinator (Redis) when configured.
  bool SupportsNotify() const override { return false; }

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

 private:
  explicit MongoStore(Options options);

  // Runs `f(collection)` with a client leased from the pool.
  template <typename F>
  auto With(const std::string& collection, F&& f) {
    Pool::Lease lease(pool_.get());
    Collection c(*pool_, lease, options_.database, collection);
    return f(c);
  }

  // Inserts jobs (JobInsertMany without the empty/validation preamble).
  absl::StatusOr<JobInsertManyResult> InsertJobs(const Collection& jobs,
                                                 const std::vector<NewJob>& batch, absl::Time now);
  // Deletes the claim records of deleted jobs.
  absl::Status ForgetClaims(const std::vector<JobId>& ids);
  // Records the priority levels (queue, priority) of jobs about to become
  // available, so that claims look for them (see mongodb_claim.cc). Levels
  // are never removed; each is written once per process.
  absl::Status RegisterLevels(const std::vector<std::pair<std::string, int>>& levels);
  // The job, or NotFound.
  absl::StatusOr<Job> GetJob(const Collection& jobs, JobId id);
  // The dependants' step of workflow job `id` that just completed (ok) or
  // ended dead/cancelled (mongodb_workflow.cc).
  absl::Status PropagateFinished(const Collection& jobs, JobId id, bool ok, absl::Time now);

  Options options_;
  std::unique_ptr<Pool> pool_;
  // Collection names.
  std::string jobs_;
  std::string queues_;
  std::string leaders_;
  std::string workers_;
  std::string cron_fires_;
  std::string claims_;
  std::string levels_;
  // The server is FerretDB (buildInfo says so), not MongoDB. FerretDB sorts
  // in Go over every match and pushes no limit down with a filter, so claims
  // read a bounded window unsorted and order it here; and its updates are a
  // read followed by a blind write, so this process's own heartbeats and
  // outcomes of its jobs are serialized (lease_writes_mu_) lest a heartbeat
  // write a completed job back as running.
  bool ferretdb_ = false;
  Mutex lease_writes_mu_;

  Mutex levels_mu_;
  std::set<std::pair<std::string, int>> known_levels_ ABSL_GUARDED_BY(levels_mu_);
};

// Helpers shared by the store's files.
Doc Keys(std::initializer_list<std::pair<const char*, int>> fields);
Doc ClaimOrder();                                   // {priority: 1, run_at: 1, _id: 1}
Doc InInt64(const std::vector<int64_t>& values);    // {$in: values}
Doc InStr(const std::vector<std::string>& values);  // {$in: values}
// {_id: {$in: ids}}
Doc IdIn(const std::vector<JobId>& ids);

}  // namespace popqueue::store::mongodb

#endif  // POPQUEUE_STORE_MONGODB_MONGODB_STORE_IMPL_H_
