// The PostgreSQL store: one table of jobs, worked by any number of processes.
//
// Concurrency model. PostgreSQL does the arbitration; this process keeps no
// state about jobs. Every call leases a connection from a small pool
// (pg_pool.h; reconnects with backoff, kUnavailable while the server is
// away) and runs one embedded, prepared statement (sql/*.sql) whose values
// are all bound parameters; times are bigint microseconds since the epoch.
// Each worker-path change is one statement, so it is atomic without an
// explicit transaction:
// - Claim (sql/job_claim.sql) picks the due jobs of each queue with
//   FOR UPDATE SKIP LOCKED, so concurrent claimers never wait for each other
//   and never take the same job; it promotes due delayed jobs in passing.
// - Complete, fail and heartbeat are one UPDATE over arrays of (id, token):
//   the lease token in the WHERE clause is the fence.
// - Insert is one multi-row statement; identifier uniqueness is a partial
//   unique index, and a duplicate committed concurrently is looked up again
//   with a fresh snapshot (job_insert.cc).
// The one multi-statement change (a cron fire: record it, insert its job)
// runs in InTransaction, which retries the whole transaction on
// serialization failures and deadlocks (kAborted).

//
// Counts come from delta rows appended by statement-level triggers, folded
// by readers and the rescuer (CompactCounts), so writers never contend for a
// counter row. Wake-ups: inserts NOTIFY a channel per table; one LISTEN
// connection (pg_listener.h) calls the subscribers. Schema changes are the
// numbered files of migrations/, applied by Migrate under an advisory lock.
// docs/postgres.md has the statements and the measurements.
//
// This file holds the worker path (open, migrate, insert, claim, complete,
// fail, heartbeat, rescue, notifications); admin and read calls are in
// postgres_admin.cc.
#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "store/postgres/job_insert.h"
#include "store/postgres/job_rows.h"
#include "store/postgres/postgres_store_impl.h"

namespace popqueue::store {

absl::StatusOr<std::shared_ptr<Store>> OpenPostgresStore(const Url& url,
                                                         const StoreConfig& config) {
  absl::StatusOr<std::shared_ptr<postgres::PostgresStore>> s =
      postgres::PostgresStore::Open(url, config);
  if (!s.ok()) return s.status();
  return std::shared_ptr<Store>(*std::move(s));
}

namespace postgres {
namespace {

constexpr int kMaxTxAttempts = 4;  // serialization failures / deadlocks
constexpr absl::Duration kCompactEvery = absl::Seconds(5);
// The client bound of Migrate()'s calls at the least, since it lifts
// statement_timeout: migrating a large table, or waiting for another
// process's migration, may take long. ?query_timeout=0 lifts it too.
constexpr absl::Duration kMigrateQueryTimeout = absl::Minutes(30);

absl::StatusOr<JobIdList> IdsInParamsOrder(const PGresult* res, const std::vector<JobId>& order) {
  std::set<JobId> changed;
  for (int r = 0; r < PQntuples(res); ++r) changed.insert(Int(res, r, 0));
  JobIdList out;
  for (JobId id : order) {
    if (changed.erase(id) > 0) out.push_back(id);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<PostgresStore>> PostgresStore::Open(
    const Url& url, const StoreConfig& config, const PostgresStoreOptions& options) {
  // ?pool_size=N is ours; every other query parameter goes to libpq.
  Url conn_url = url;
  int pool_size = options.pool_size;
  if (auto it = conn_url.query.find("pool_size"); it != conn_url.query.end()) {
    if (!absl::SimpleAtoi(it->second, &pool_size) || pool_size < 1 || pool_size > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("pool_size in \"", url.Redacted(), "\" must be a number from 1 to 100"));
    }
    conn_url.query.erase(it);
  }
  absl::StatusOr<ConnSettings> settings = SettingsFromUrl(conn_url, config.db_name);
  if (!settings.ok()) return settings.status();
  absl::StatusOr<SqlCatalog> catalog = SqlCatalog::Create(config.collection);
  if (!catalog.ok()) return catalog.status();
  auto store =
      std::make_shared<PostgresStore>(*std::move(catalog), *std::move(settings), pool_size);
  // Connect once now so that a wrong URL fails at open with a clear message.
  {
    absl::StatusOr<Pool::Lease> lease = store->pool_.Acquire();
    if (!lease.ok()) return lease.status();
  }
  if (options.migrate) {
    if (absl::Status s = store->Migrate(); !s.ok()) return s;
  }
  return store;
}

PostgresStore::PostgresStore(SqlCatalog catalog, ConnSettings settings, int pool_size)
    : catalog_(std::move(catalog)),
      pool_(settings, pool_size),
      listener_(settings, catalog_.channel()) {}

absl::StatusOr<Result> PostgresStore::Run(std::string_view name, const Params& params,
                                          std::string_view what) {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Pool::Lease> lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    absl::StatusOr<Result> r = lease->Exec(name, catalog_.Query(name), params, what);
    if (r.ok() || !absl::IsAborted(r.status()) || attempt >= kMaxTxAttempts) {
      return r;
    }
    absl::SleepFor(absl::Milliseconds(2 * attempt));
  }
}

absl::Status PostgresStore::InTransaction(std::string_view what,
                                          const std::function<absl::Status(Pool::Lease&)>& body) {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Pool::Lease> lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    absl::Status s = lease->ExecSimple("BEGIN", what);
    if (s.ok()) s = body(*lease);
    if (s.ok()) s = lease->ExecSimple("COMMIT", what);
    // On failure the lease rolls back when it is released.
    if (s.ok() || !absl::IsAborted(s) || attempt >= kMaxTxAttempts) return s;
    absl::SleepFor(absl::Milliseconds(2 * attempt));
  }
}

absl::Status PostgresStore::DoMigrate() {
  absl::StatusOr<Pool::Lease> lease = pool_.Acquire();
  if (!lease.ok()) return lease.status();
  auto read_applied = [&]() -> absl::StatusOr<std::set<int64_t>> {
    absl::StatusOr<Result> applied =
        lease->Exec("migrations_applied", catalog_.Query("migrations_applied"), Params(),
                    "read applied migrations");
    if (!applied.ok()) return applied.status();
    std::set<int64_t> done;
    for (int r = 0; r < PQntuples(applied->get()); ++r) {
      done.insert(Int(applied->get(), r, 0));
    }
    return done;
  };
  // Every start but the first finds the schema current: one read, without
  // the lock and its five round trips (each a transaction of the server).
  // Any other answer (no migrations table yet, a migration missing) takes
  // the locked path below, which decides.
  if (absl::StatusOr<std::set<int64_t>> done = read_applied(); done.ok()) {
    bool current = true;
    for (const Migration& m : catalog_.migrations()) {
      current = current && done->contains(m.version);
    }
    if (current) return absl::OkStatus();
  } else if (absl::IsUnavailable(done.status())) {
    return done.status();
  }
  // Waiting for another process's migration, or migrating a large table,
  // may rightly take longer than the URL's statement_timeout.
  lease->set_query_timeout(std::max(lease->query_timeout(), kMigrateQueryTimeout));
  if (absl::Status s = lease->ExecSimple("SET statement_timeout = 0", "lift the statement timeout");
      !s.ok()) {
    return s;
  }
  Params key;
  key.Add(catalog_.LockKey("migrate"));
  // Concurrent starts queue up here; the first one migrates, the others
  // then find nothing left to do.
  absl::StatusOr<Result> locked = lease->Exec("advisory_lock", catalog_.Query("advisory_lock"), key,
                                              "lock the schema for migration");
  if (!locked.ok()) {
    (void)lease->ExecSimple("RESET statement_timeout", "restore the timeout");
    return locked.status();
  }

  absl::Status status = [&]() -> absl::Status {
    if (absl::Status s =
            lease->ExecSimple(catalog_.Query("schema_migrations"), "create the migrations table");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::set<int64_t>> done = read_applied();
    if (!done.ok()) return done.status();
    for (const Migration& m : catalog_.migrations()) {
      if (done->contains(m.version)) continue;
      std::string what = absl::StrCat("apply migration ", m.name);
      absl::Status s = lease->ExecSimple("BEGIN", what);
      if (s.ok()) s = lease->ExecSimple(m.sql, what);
      if (s.ok()) {
        Params p;
        p.Add(m.version).Add(m.name);
        s = lease->Exec("migration_record", catalog_.Query("migration_record"), p, what).status();
      }
      if (s.ok()) s = lease->ExecSimple("COMMIT", what);
      if (!s.ok()) {
        (void)lease->ExecSimple("ROLLBACK", what);
        return s;
      }
    }
    return absl::OkStatus();
  }();
  (void)lease->Exec("advisory_unlock", catalog_.Query("advisory_unlock"), key, "unlock the schema");
  (void)lease->ExecSimple("RESET statement_timeout", "restore the timeout");
  return status;
}

absl::StatusOr<JobInsertManyResult> PostgresStore::DoJobInsertMany(
    const JobInsertManyParams& params) {
  return InsertJobs(
      [this](std::string_view name, const Params& p) { return Run(name, p, "insert jobs"); },
      catalog_, params);
}

absl::StatusOr<JobClaimResult> PostgresStore::DoJobClaim(const JobClaimParams& params) {
  std::vector<std::optional<std::string>> queues(params.queues.begin(), params.queues.end());
  Params p;
  p.Add(TextArray(queues))
      .Add(params.worker_id)
      .Add(params.limit)
      .Add(params.now)
      .Add(params.now + params.lease)
      .Add(params.lease_token);
  absl::StatusOr<Result> r = Run("job_claim", p, "claim jobs");
  if (!r.ok()) return r.status();
  return JobsFromResult(r->get());
}

absl::StatusOr<JobIdList> PostgresStore::DoJobCompleteMany(const JobCompleteManyParams& params) {
  std::vector<int64_t> ids, tokens;
  std::vector<std::optional<std::string>> results;
  for (const JobCompleteItem& item : params.items) {
    ids.push_back(item.id);
    tokens.push_back(item.lease_token);
    results.push_back(item.result ? std::optional(ValidUtf8(*item.result)) : std::nullopt);
  }
  Params p;
  p.Add(BigintArray(ids)).Add(BigintArray(tokens)).Add(TextArray(results)).Add(params.now);
  std::vector<JobId> parents;
  for (const JobCompleteItem& item : params.items) {
    if (item.has_dependants) parents.push_back(item.id);
  }
  if (parents.empty()) {
    absl::StatusOr<Result> r = Run("job_complete_many", p, "complete jobs");
    if (!r.ok()) return r.status();
    return IdsInParamsOrder(r->get(), ids);
  }
  // Workflow parents: the completion and the dependants' step commit together.
  JobIdList done;
  absl::Status s = InTransaction("complete jobs", [&](Pool::Lease& lease) -> absl::Status {
    absl::StatusOr<Result> r =
        lease.Exec("job_complete_many", catalog_.Query("job_complete_many"), p, "complete jobs");
    if (!r.ok()) return r.status();
    absl::StatusOr<JobIdList> in_order = IdsInParamsOrder(r->get(), ids);
    if (!in_order.ok()) return in_order.status();
    done = *std::move(in_order);
    std::vector<JobId> completed;
    for (JobId id : parents) {
      if (std::find(done.begin(), done.end(), id) != done.end()) completed.push_back(id);
    }
    return PropagateFinished(lease, completed, true, params.now);
  });
  if (!s.ok()) return s;
  return done;
}

absl::StatusOr<JobIdList> PostgresStore::DoJobFailMany(const JobFailManyParams& params) {
  // Snoozed jobs take their own statement; a batch without any sends only
  // job_fail_many, as it always did.
  std::vector<int64_t> snooze_ids, snooze_tokens, snooze_run_at;
  std::vector<int64_t> ids, tokens, run_at;
  std::vector<std::optional<std::string>> to, errors;
  for (const JobFailItem& item : params.items) {
    if (item.to == JobState::kScheduled) {
      snooze_ids.push_back(item.id);
      snooze_tokens.push_back(item.lease_token);
      snooze_run_at.push_back(Micros(item.run_at));
      continue;
    }
    ids.push_back(item.id);
    tokens.push_back(item.lease_token);
    to.emplace_back(std::string(JobStateName(item.to)));
    run_at.push_back(Micros(item.run_at));
    errors.emplace_back(ValidUtf8(item.error));
  }
  Params p;
  p.Add(BigintArray(ids))
      .Add(BigintArray(tokens))
      .Add(TextArray(to))
      .Add(BigintArray(run_at))
      .Add(TextArray(errors))
      .Add(params.now)
      .Add(absl::ToUnixMillis(params.now));
  std::set<JobId> changed;
  auto collect = [&changed](const PGresult* res) {
    for (int row = 0; row < PQntuples(res); ++row) changed.insert(Int(res, row, 0));
  };
  if (!snooze_ids.empty()) {
    Params sp;
    sp.Add(BigintArray(snooze_ids)).Add(BigintArray(snooze_tokens)).Add(BigintArray(snooze_run_at));
    absl::StatusOr<Result> r = Run("job_snooze_many", sp, "snooze jobs");
    if (!r.ok()) return r.status();
    collect(r->get());
  }
  std::vector<JobId> parents;  // ending dead or cancelled
  for (const JobFailItem& item : params.items) {
    if (item.has_dependants && (item.to == JobState::kDead || item.to == JobState::kCancelled)) {
      parents.push_back(item.id);
    }
  }
  if (!ids.empty() && parents.empty()) {
    absl::StatusOr<Result> r = Run("job_fail_many", p, "fail jobs");
    if (!r.ok()) return r.status();
    collect(r->get());
  } else if (!ids.empty()) {
    absl::Status s = InTransaction("fail jobs", [&](Pool::Lease& lease) -> absl::Status {
      absl::StatusOr<Result> r =
          lease.Exec("job_fail_many", catalog_.Query("job_fail_many"), p, "fail jobs");
      if (!r.ok()) return r.status();
      collect(r->get());
      std::vector<JobId> failed;
      for (JobId id : parents) {
        if (changed.count(id) > 0) failed.push_back(id);
      }
      return PropagateFinished(lease, failed, false, params.now);
    });
    if (!s.ok()) return s;
  }
  JobIdList out;
  for (const JobFailItem& item : params.items) {
    if (changed.erase(item.id) > 0) out.push_back(item.id);
  }
  return out;
}

absl::StatusOr<JobHeartbeatManyResult> PostgresStore::DoJobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  std::vector<int64_t> ids, tokens;
  std::vector<std::optional<std::string>> progress, stop_reason, stopping_since, stop_overdue;
  for (const JobHeartbeatItem& item : params.items) {
    ids.push_back(item.id);
    tokens.push_back(item.lease_token);
    progress.push_back(item.progress
                           ? std::optional(absl::StrCat(std::clamp(*item.progress, 0, 100)))
                           : std::nullopt);
    if (item.stopping) {
      stop_reason.push_back(item.stopping->reason);
      stopping_since.push_back(absl::StrCat(absl::ToUnixMicros(item.stopping->since)));
      stop_overdue.push_back(item.stopping->overdue ? "true" : "false");
    } else {
      stop_reason.push_back(std::nullopt);
      stopping_since.push_back(std::nullopt);
      stop_overdue.push_back(std::nullopt);
    }
  }
  Params p;
  p.Add(BigintArray(ids))
      .Add(BigintArray(tokens))
      .Add(TextArray(progress))
      .Add(params.now + params.lease)
      .Add(TextArray(stop_reason))
      .Add(TextArray(stopping_since))
      .Add(TextArray(stop_overdue));
  absl::StatusOr<Result> r = Run("job_heartbeat_many", p, "heartbeat jobs");
  if (!r.ok()) return r.status();
  std::set<JobId> extended, cancel;
  for (int row = 0; row < PQntuples(r->get()); ++row) {
    JobId id = Int(r->get(), row, 0);
    extended.insert(id);
    if (Bool(r->get(), row, 1)) cancel.insert(id);
  }
  JobHeartbeatManyResult out;
  for (JobId id : ids) {
    if (extended.erase(id) > 0) {
      out.extended.push_back(id);
      if (cancel.contains(id)) out.cancel_requested.push_back(id);
    }
  }
  return out;
}

absl::StatusOr<JobRescueExpiredResult> PostgresStore::DoJobRescueExpired(
    const JobRescueExpiredParams& params) {
  Params p;
  p.Add(params.now).Add(params.limit).Add(absl::ToUnixMillis(params.now)).Add(catalog_.channel());
  // One transaction with the dependants' step of rescued workflow parents
  // that ended dead or cancelled (the statement lists them).
  JobRescueExpiredResult moved;
  absl::Status s = InTransaction("rescue expired jobs", [&](Pool::Lease& lease) -> absl::Status {
    moved.clear();  // a retried transaction starts over
    absl::StatusOr<Result> r = lease.Exec(
        "job_rescue_expired", catalog_.Query("job_rescue_expired"), p, "rescue expired jobs");
    if (!r.ok()) return r.status();
    const std::string_view text = Text(r->get(), 0, 2);
    for (absl::string_view pair :
         absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, '=');
      int64_t id = 0;
      absl::StatusOr<JobState> to =
          ParseJobState(std::string_view(kv.second.data(), kv.second.size()));
      if (!absl::SimpleAtoi(kv.first, &id) || !to.ok()) {
        return absl::InternalError("corrupt rescued job list");
      }
      moved.push_back(RescuedJob{.id = id, .to = *to});
    }
    std::vector<JobId> parents;
    std::string_view list = Text(r->get(), 0, 3);  // {1,2,3}
    if (list.size() > 2) {
      for (absl::string_view id :
           absl::StrSplit(absl::string_view(list.data() + 1, list.size() - 2), ',')) {
        int64_t v = 0;
        if (!absl::SimpleAtoi(id, &v)) return absl::InternalError("corrupt rescued id list");
        parents.push_back(v);
      }
    }
    return PropagateFinished(lease, parents, false, params.now);
  });
  if (!s.ok()) return s;
  // The rescuer runs periodically in the leader: a good place to keep the
  // count deltas short.
  int64_t now_us = Micros(absl::Now());
  int64_t last = last_compact_us_.load();
  if (now_us - last > absl::ToInt64Microseconds(kCompactEvery) &&
      last_compact_us_.compare_exchange_strong(last, now_us)) {
    (void)CompactCounts();
  }
  return moved;
}

absl::Status PostgresStore::CompactCounts() {
  Params p;
  p.Add(catalog_.LockKey("counts"));
  return Run("counts_compact", p, "compact job counts").status();
}

absl::StatusOr<int> PostgresStore::DoSubscribe(
    std::function<void(const std::string& queue)> on_available) {
  return listener_.Subscribe(std::move(on_available));
}

void PostgresStore::DoUnsubscribe(int handle) { listener_.Unsubscribe(handle); }

}  // namespace postgres
}  // namespace popqueue::store
