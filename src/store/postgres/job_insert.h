// Batch insert shared by PostgresStore::JobInsertMany, CronFireOnce and the
// transactional EnqueueTx (which runs it on the caller's connection).
#ifndef POPQUEUE_STORE_POSTGRES_JOB_INSERT_H_
#define POPQUEUE_STORE_POSTGRES_JOB_INSERT_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/sql_catalog.h"
#include "store/store.h"

namespace popqueue::store::postgres {

// Runs embedded statement `name` with `params` (prepared on a pooled
// connection, or unprepared on a caller's).
using StatementRunner =
    std::function<absl::StatusOr<Result>(std::string_view name, const Params& params)>;

// JobInsertMany's contract (store.h), through `run`. One statement in the
// common case; when a duplicate identifier was committed concurrently after
// the statement's snapshot, the holder is looked up with a fresh snapshot
// (and, should it have finished meanwhile, the job is inserted after all).
// `params` passed store/validate.h's checks (Store::JobInsertMany and
// EnqueueTx run them).

// PostgreSQL's own limit on a job the contract's checks let through: text
// columns cannot hold NUL bytes. `index` names the job in the error.
absl::Status RefuseNul(const NewJob& job, size_t index);

// The per-job columns that job_insert_many and workflow_insert take as
// arrays (one element per job): Add each job, then AppendTo in the
// statements' parameter order: id, queue, name, [identifier], data,
// priority, max_attempts, run_at, timeout, backoff (microseconds); the
// metadata array (NULL for a job without) goes last, by AppendMetadataTo.
class NewJobColumns {
 public:
  void Add(const NewJob& job);
  void AppendTo(Params& p, bool with_identifier) const;
  void AppendMetadataTo(Params& p) const;

 private:
  std::vector<int64_t> ids_, priorities_, max_attempts_, run_at_, timeouts_, backoffs_;
  std::vector<std::optional<std::string>> queues_, names_, identifiers_, data_, metadata_;
};

absl::StatusOr<JobInsertManyResult> InsertJobs(const StatementRunner& run,
                                               const SqlCatalog& catalog,
                                               const JobInsertManyParams& params);

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_JOB_INSERT_H_
