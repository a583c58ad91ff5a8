// Transactional enqueue for applications that keep their own data in the
// same PostgreSQL database as the queue: the jobs are inserted on the
// caller's connection, inside the caller's transaction, so they exist if and
// only if that transaction commits.
//
//   PQexec(conn, "BEGIN");
//   PQexec(conn, "INSERT INTO orders ...");
//   auto ids = popqueue::EnqueueTx(conn, queue.config(),
//                                  {{.name = "email", .data = R"({"order":7})"}});
//   PQexec(conn, ids.ok() ? "COMMIT" : "ROLLBACK");
//
// Workers are woken when the transaction commits (NOTIFY is transactional).
// Available only in builds with POPQUEUE_WITH_POSTGRES.
#ifndef POPQUEUE_POSTGRES_H_
#define POPQUEUE_POSTGRES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "popqueue/admin.h"
#include "popqueue/queue.h"

typedef struct pg_conn PGconn;  // libpq's connection (libpq-fe.h)

namespace popqueue {

// Inserts `requests` (all or nothing, results in request order, duplicate
// identifiers reported as in Queue::EnqueueMany) on `conn`. From `config` it
// uses collection (the table), retries (the default max attempts) and clock;
// the schema must exist (open a Queue on this database once, or run
// `popqueue migrate`).
//
// Inside a transaction block the insert runs under a savepoint: on error the
// caller's transaction is left as it was before the call, still usable.
// Outside one, the insert commits at once. FailedPrecondition when the
// connection is busy or its transaction already failed. Never commits or
// rolls back the caller's transaction. Not safe for concurrent use of one
// `conn` (libpq connections never are).
absl::StatusOr<std::vector<EnqueueResult>> EnqueueTx(PGconn* conn, const QueueConfig& config,
                                                     const std::vector<EnqueueRequest>& requests);

// One job: EnqueueTx(conn, config, {{name, data, options}}).
absl::StatusOr<EnqueueResult> EnqueueTx(PGconn* conn, const QueueConfig& config,
                                        std::string_view name, std::string data,
                                        const EnqueueOptions& options = {});

}  // namespace popqueue

#endif  // POPQUEUE_POSTGRES_H_
