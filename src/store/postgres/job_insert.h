// Batch insert shared by PostgresStore::JobInsertMany, CronFireOnce and the
// transactional EnqueueTx (which runs it on the caller's connection).
#ifndef POPQUEUE_STORE_POSTGRES_JOB_INSERT_H_
#define POPQUEUE_STORE_POSTGRES_JOB_INSERT_H_

#include <functional>
#include <string_view>

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

absl::StatusOr<JobInsertManyResult> InsertJobs(const StatementRunner& run,
                                               const SqlCatalog& catalog,
                                               const JobInsertManyParams& params);

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_JOB_INSERT_H_
