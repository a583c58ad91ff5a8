// popqueue::EnqueueTx (include/popqueue/postgres.h): the batch insert of the
// store, run unprepared on the caller's connection so that nothing is left
// behind on it (no prepared statements, no LISTEN, no settings).
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/job_json.h"
#include "popqueue/clock.h"
#include "popqueue/postgres.h"
#include "store/postgres/job_insert.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/sql_catalog.h"
#include "store/validate.h"

namespace popqueue {
namespace {

using store::postgres::Params;
using store::postgres::Result;

IdGenerator& Ids() {
  static auto* ids = new IdGenerator();
  return *ids;
}

absl::StatusOr<store::NewJob> ToNewJob(const EnqueueRequest& r, const QueueConfig& config,
                                       absl::Time now, size_t index) {
  const EnqueueOptions& o = r.options;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("jobs[", index, "]: ", why));
  };
  if (r.name.empty()) return bad("name: job name is empty");
  if (o.run_at && o.delay) return bad("run_at and delay are exclusive: set one");
  if (o.delay && *o.delay < absl::ZeroDuration()) {
    return bad("delay: must not be negative");
  }
  int max_attempts = o.max_attempts.value_or(config.retries + 1);
  if (max_attempts < 1) return bad("max_attempts: must be at least 1");
  if (absl::Status s = ValidateMetadata(o.metadata); !s.ok()) return bad(s.message());
  return store::NewJob{
      .id = Ids().Next(now),
      .queue = o.queue.empty() ? std::string(kDefaultQueue) : o.queue,
      .name = r.name,
      .identifier = o.identifier,
      .data = r.data,
      .priority = o.priority,
      .max_attempts = max_attempts,
      .run_at = o.run_at ? *o.run_at : now + o.delay.value_or(absl::ZeroDuration()),
      .timeout = o.timeout.value_or(absl::ZeroDuration()),
      .backoff_base = o.backoff_base.value_or(absl::ZeroDuration()),
      .metadata = EncodeMetadata(o.metadata)};
}

absl::Status Simple(PGconn* conn, const char* sql) {
  Result r(PQexec(conn, sql));
  return store::postgres::ResultStatus(r.get(), conn, "the caller's connection",
                                       "enqueue in the caller's transaction");
}

}  // namespace

absl::StatusOr<std::vector<EnqueueResult>> EnqueueTx(PGconn* conn, const QueueConfig& config,
                                                     const std::vector<EnqueueRequest>& requests) {
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    return absl::FailedPreconditionError("EnqueueTx needs an open PostgreSQL connection");
  }
  PGTransactionStatusType tx = PQtransactionStatus(conn);
  if (tx == PQTRANS_INERROR) {
    return absl::FailedPreconditionError(
        "EnqueueTx: the connection's transaction has already failed; roll it "
        "back first");
  }
  if (tx != PQTRANS_IDLE && tx != PQTRANS_INTRANS) {
    return absl::FailedPreconditionError("EnqueueTx: the connection is busy with another command");
  }
  if (requests.empty()) return std::vector<EnqueueResult>();
  absl::StatusOr<store::postgres::SqlCatalog> catalog =
      store::postgres::SqlCatalog::Create(config.collection);
  if (!catalog.ok()) return catalog.status();

  Clock* clock = config.clock != nullptr ? config.clock : Clock::Real();
  absl::Time now = clock->Now();
  store::JobInsertManyParams params{.now = now};
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<store::NewJob> job = ToNewJob(requests[i], config, now, i);
    if (!job.ok()) return job.status();
    params.jobs.push_back(*std::move(job));
  }
  // The store contract's checks, as Store::JobInsertMany runs them.
  if (absl::Status s = store::Validate(params); !s.ok()) return s;

  std::string where = "the caller's connection";
  store::postgres::StatementRunner run = [&](std::string_view name,
                                             const Params& p) -> absl::StatusOr<Result> {
    Result r = store::postgres::ExecParams(conn, catalog->Query(name), p);
    absl::Status s =
        store::postgres::ResultStatus(r.get(), conn, where, "enqueue in the caller's transaction");
    if (!s.ok()) return s;
    return r;
  };
  const bool in_tx = tx == PQTRANS_INTRANS;
  for (int attempt = 0;; ++attempt) {
    if (in_tx) {
      if (absl::Status s = Simple(conn, "SAVEPOINT popqueue_enqueue"); !s.ok()) {
        return s;
      }
    }
    absl::StatusOr<store::JobInsertManyResult> out =
        store::postgres::InsertJobs(run, *catalog, params);
    if (in_tx) {
      absl::Status s = Simple(conn, out.ok() ? "RELEASE SAVEPOINT popqueue_enqueue"
                                             : "ROLLBACK TO SAVEPOINT popqueue_enqueue");
      if (s.ok() && !out.ok()) s = Simple(conn, "RELEASE SAVEPOINT popqueue_enqueue");
      if (!s.ok()) return s;
    }
    // An id collision stores nothing: draw new ids and try again.
    if (!absl::IsAlreadyExists(out.status()) || attempt == 3) return out;
    Ids().Reseed();
    for (store::NewJob& j : params.jobs) j.id = Ids().Next(clock->Now());
  }
}

absl::StatusOr<EnqueueResult> EnqueueTx(PGconn* conn, const QueueConfig& config,
                                        std::string_view name, std::string data,
                                        const EnqueueOptions& options) {
  absl::StatusOr<std::vector<EnqueueResult>> out = EnqueueTx(
      conn, config,
      {EnqueueRequest{.name = std::string(name), .data = std::move(data), .options = options}});
  if (!out.ok()) return out.status();
  return out->front();
}

}  // namespace popqueue
