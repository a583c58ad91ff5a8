// Decoding job rows (SELECT * / RETURNING * of the jobs table).
#ifndef POPQUEUE_STORE_POSTGRES_JOB_ROWS_H_
#define POPQUEUE_STORE_POSTGRES_JOB_ROWS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "popqueue/job.h"
#include "store/postgres/pg_conn.h"

namespace popqueue::store::postgres {

// Every row of `res` as a Job, by column name. kInternal for a corrupt row.
absl::StatusOr<std::vector<Job>> JobsFromResult(const PGresult* res);

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_JOB_ROWS_H_
