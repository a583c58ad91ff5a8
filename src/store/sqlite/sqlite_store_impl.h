// SqliteStore: the Store on one SQLite file. Private to src/store/sqlite; the
// rest of the library opens it through OpenSqliteStore (sqlite_store.h).
// The concurrency model is explained at the top of sqlite_store.cc.
#ifndef POPQUEUE_STORE_SQLITE_SQLITE_STORE_IMPL_H_
#define POPQUEUE_STORE_SQLITE_SQLITE_STORE_IMPL_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace popqueue::store::sqlite {

// The column list every query that returns jobs uses ({{job_columns}}), in
// the order ReadJob expects.
inline constexpr char kJobColumns[] =
    "id, queue, name, identifier, data, priority, state, attempt, "
    "max_attempts, run_at, created_at, picked_at, finished_at, worker_id, "
    "lease_token, lease_expires_at, errors, result, progress, timeout_us, "
    "backoff_base_us, cancel_requested, stop_reason, stopping_since, stop_overdue, "
    "workflow_id, parents, dependants, waiting, metadata";

// Reads a job from a row whose first columns are kJobColumns. Internal when
// the row is corrupt (unknown state, malformed errors).
absl::StatusOr<Job> ReadJob(const Stmt& row);

// A workflow job that ended: `ok` when it completed (dead or cancelled
// otherwise), with its stored dependant edges.
struct Finished {
  JobId id = 0;
  bool ok = false;
  std::vector<JobEdge> dependants;
};
// Releases or cancels (transitively) the dependants of `finished`, inside
// the caller's write transaction; adds the queues of jobs made available.
absl::Status PropagateFinished(Conn& conn, std::vector<Finished> finished, absl::Time now,
                               std::set<std::string>* available);

class SqliteStore final : public Store {
 public:
  struct Options {
    std::string path;   // file path or ":memory:"
    std::string table;  // validated identifier
    std::string synchronous = "NORMAL";
    int busy_timeout_ms = 5000;
  };

  // Opens the writer connection and runs Migrate().
  static absl::StatusOr<std::shared_ptr<SqliteStore>> Open(Options options);

  bool SupportsNotify() const override { return true; }
  bool SerializesClaims() const override { return true; }
  // In-process only: another process on the same file polls, or hears the
  // coordinator's wake-ups.
  bool NotifiesOtherProcesses() const override { return false; }

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

 private:
  explicit SqliteStore(Options options);

  // Runs `fn(Conn&)` inside BEGIN IMMEDIATE ... COMMIT on the writer
  // connection; rolls back when fn fails. fn returns absl::Status or
  // absl::StatusOr<T>, and so does WithWriteTx.
  template <typename Fn>
  auto WithWriteTx(Fn fn) -> decltype(fn(std::declval<Conn&>()));
  // Runs `fn(Conn&)` on an idle read connection (the writer, under its lock,
  // for in-memory databases, which cannot be shared between connections).
  template <typename Fn>
  auto WithReader(Fn fn) -> decltype(fn(std::declval<Conn&>()));

  // Adds the transaction's count changes (Conn::TrackCounts) to the kept
  // counts: one upsert per changed (queue, state), inside the transaction.
  absl::Status ApplyCountDeltas(Conn& conn);
  // Points the writer's pre-update hook at the jobs table (after Migrate).
  absl::Status TrackCounts();

  // Calls every subscriber once per queue, never with write_mu_ held, so a
  // subscriber may read or claim; it must not Subscribe/Unsubscribe.
  void Notify(const std::set<std::string>& queues);

  static constexpr size_t kMaxIdleReaders = 8;

  const Options options_;
  const ConnOptions conn_options_;
  QueryMap queries_;  // immutable after construction
  const bool in_memory_;

  Mutex write_mu_;
  std::unique_ptr<Conn> writer_ ABSL_GUARDED_BY(write_mu_);

  Mutex read_mu_;
  std::vector<std::unique_ptr<Conn>> idle_readers_ ABSL_GUARDED_BY(read_mu_);

  // Held shared while calling subscribers, exclusively to change them, so
  // that Unsubscribe returns only once no call to the handler is running.
  Mutex notify_mu_;
  std::map<int, std::function<void(const std::string&)>> subscribers_ ABSL_GUARDED_BY(notify_mu_);
  int next_handle_ ABSL_GUARDED_BY(notify_mu_) = 1;
};

template <typename Fn>
auto SqliteStore::WithWriteTx(Fn fn) -> decltype(fn(std::declval<Conn&>())) {
  MutexLock lock(&write_mu_);
  WriteTx tx(*writer_);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  auto result = fn(*writer_);
  if (!result.ok()) {
    writer_->TakeCountDeltas();  // ~WriteTx rolls back
    return result;
  }
  if (absl::Status s = ApplyCountDeltas(*writer_); !s.ok()) return s;
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return result;
}

template <typename Fn>
auto SqliteStore::WithReader(Fn fn) -> decltype(fn(std::declval<Conn&>())) {
  if (in_memory_) {
    MutexLock lock(&write_mu_);
    return fn(*writer_);
  }
  std::unique_ptr<Conn> conn;
  {
    MutexLock lock(&read_mu_);
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
  }
  if (conn == nullptr) {
    absl::StatusOr<std::unique_ptr<Conn>> opened = Conn::Open(conn_options_, &queries_);
    if (!opened.ok()) return opened.status();
    conn = std::move(*opened);
  }
  auto result = fn(*conn);
  MutexLock lock(&read_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) {
    idle_readers_.push_back(std::move(conn));
  }
  return result;
}

}  // namespace popqueue::store::sqlite

#endif  // POPQUEUE_STORE_SQLITE_SQLITE_STORE_IMPL_H_
