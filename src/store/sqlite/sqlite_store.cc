// The SQLite store: the embedded default, one database file in WAL mode.
//
// Concurrency model. SQLite allows many readers but one writer per file at a
// time, across all processes that open it. This store leans into that rather
// than fighting it:
//
// - One writer connection per store, guarded by write_mu_. Every change runs
//   as a single BEGIN IMMEDIATE transaction on it (WithWriteTx). IMMEDIATE
//   takes the file's write lock up front, so a transaction never reads a
//   snapshot and then fails to upgrade (SQLITE_BUSY_SNAPSHOT); contention
//   between processes turns into waiting in SQLite's busy handler for up to
//   busy_timeout_ms and, past it, kUnavailable (the caller retries).
//   Within a process, threads queue on write_mu_ instead of spinning in the
//   busy handler.
// - Batches are the unit of work: JobInsertMany, JobClaim, JobCompleteMany,
//   ... each pay one transaction (and with synchronous=NORMAL, no fsync
//   until checkpoint) however many rows they touch, reusing cached prepared
//   statements row after row. That is where the throughput comes from.
// - Reads (JobGet, JobList, counts, worker list) run on a small pool of
//   separate read connections. In WAL mode a reader sees the last committed
//   snapshot and never waits for the writer, so the dashboard stays fast
//   while workers hammer the queue. In-memory databases cannot be shared by
//   connections, so there reads use the writer under its lock.
// - Claiming is race-free by construction: promotion of due jobs, the choice
//   of candidates and the UPDATE that marks them running happen in one
//   write transaction, which no other connection can interleave with.
//   Fencing is the `lease_token = ? AND state = 'running'` guard on every
//   worker-side change.
// - Identifier uniqueness is checked (and enforced by a partial unique index)
//   inside the insert transaction, so concurrent enqueues of one identifier
//   from any number of threads or processes yield exactly one job.
// - Notifications are in-process only: after a commit that made jobs
//   available, subscribers are called once per queue, outside write_mu_ so a
//   subscriber may call back into the store. Workers in other processes
//   sharing the file find the jobs by polling.
//
// Times are integer microseconds since the Unix epoch; the errors column
// keeps the stored JSON form of common/job_json.h.
#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "embedded/sqlite_migrations.h"
#include "embedded/sqlite_queries.h"
#include "store/sqlite/sqlite_store_impl.h"
#include "store/workflow.h"

namespace popqueue::store {

absl::StatusOr<std::shared_ptr<Store>> OpenSqliteStore(const Url& url, const StoreConfig& config) {
  if (absl::Status s = ValidateIdentifierName("collection", config.collection); !s.ok()) {
    return s;
  }
  sqlite::SqliteStore::Options options;
  options.path = url.path;
  options.table = config.collection;
  if (options.path.empty()) {
    return absl::InvalidArgumentError("sqlite URLs need a path, e.g. sqlite://./popqueue.db");
  }
  for (const auto& [key, value] : url.query) {
    if (key == "synchronous") {
      std::string v = absl::AsciiStrToUpper(value);
      if (v != "NORMAL" && v != "FULL" && v != "EXTRA") {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sqlite URL option synchronous=%s: expected normal, full or extra", value));
      }
      options.synchronous = v;
    } else if (key == "busy_timeout_ms") {
      if (!absl::SimpleAtoi(value, &options.busy_timeout_ms) || options.busy_timeout_ms < 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sqlite URL option busy_timeout_ms=%s: expected milliseconds >= 0", value));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown sqlite URL option \"%s\"; accepted: synchronous, "
                          "busy_timeout_ms",
                          key));
    }
  }
  absl::StatusOr<std::shared_ptr<sqlite::SqliteStore>> store =
      sqlite::SqliteStore::Open(std::move(options));
  if (!store.ok()) return store.status();
  return std::shared_ptr<Store>(std::move(*store));
}

namespace sqlite {
namespace {

// Error texts come from handlers and may hold any bytes; SQLite's JSON
// functions would store invalid UTF-8 as is, which the stored-JSON reader
// then rejects. Replace each invalid byte by U+FFFD.
std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// Fills the identifier placeholders of an embedded query: {{table}} (the
// validated [A-Za-z_][A-Za-z0-9_]* collection name, always written inside
// double quotes in the .sql files) and {{job_columns}} (a constant). Every
// value is a bound parameter, never rendered.
std::string Render(std::string_view name, std::string_view text, const std::string& table) {
  std::string out = absl::StrReplaceAll(absl::string_view(text.data(), text.size()),
                                        {{"{{table}}", table}, {"{{job_columns}}", kJobColumns}});
  if (out.find("{{") != std::string::npos) {
    std::fprintf(stderr, "popqueue: unknown placeholder in %s\n", std::string(name).c_str());
    std::abort();
  }
  return out;
}

// Inserts one job inside the caller's write transaction, or reports the
// non-final job that holds its identifier.
absl::StatusOr<EnqueueResult> InsertOne(Stmt& find, Stmt& insert, const NewJob& job,
                                        absl::Time now) {
  if (!job.identifier.empty()) {
    find.Reset();
    find.Bind(":identifier", job.identifier);
    absl::StatusOr<bool> row = find.Step();
    if (!row.ok()) return row.status();
    if (*row) {
      absl::StatusOr<JobState> state = ParseJobState(find.Text(1));
      if (!state.ok()) return absl::InternalError("corrupt job state");
      EnqueueResult existing{.id = find.Int(0), .inserted = false, .state = *state};
      find.Reset();
      return existing;
    }
    find.Reset();
  }
  const JobState state = job.run_at > now ? JobState::kScheduled : JobState::kAvailable;
  insert.Reset();
  insert.Bind(":id", job.id)
      .Bind(":queue", job.queue)
      .Bind(":name", job.name)
      .Bind(":identifier", job.identifier)
      .Bind(":data", job.data)
      .Bind(":priority", job.priority)
      .Bind(":state", JobStateName(state))
      .Bind(":max_attempts", job.max_attempts)
      .Bind(":run_at", job.run_at)
      .Bind(":created_at", now)
      .Bind(":timeout_us", absl::ToInt64Microseconds(job.timeout))
      .Bind(":backoff_base_us", absl::ToInt64Microseconds(job.backoff_base))
      .Bind(":metadata", job.metadata);
  if (absl::Status s = insert.Run(); !s.ok()) return s;
  return EnqueueResult{.id = job.id, .inserted = true, .state = state};
}

// The dependants' step of a workflow job `id` that just ended (`ok`:
// completed), inside the caller's write transaction.
absl::Status PropagateOf(Conn& conn, JobId id, bool ok, absl::Time now,
                         std::set<std::string>* available) {
  absl::StatusOr<Stmt> deps = conn.Prepare("workflow_dependants.sql");
  if (!deps.ok()) return deps.status();
  deps->Bind(":id", id);
  absl::StatusOr<bool> row = deps->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrFormat("completed job %d vanished", id));
  absl::StatusOr<std::vector<JobEdge>> edges = DecodeEdges(deps->Text(0));
  deps->Reset();
  if (!edges.ok()) return edges.status();
  return PropagateFinished(conn, {Finished{.id = id, .ok = ok, .dependants = std::move(*edges)}},
                           now, available);
}

}  // namespace

SqliteStore::SqliteStore(Options options)
    : options_(std::move(options)),
      conn_options_{.path = options_.path,
                    .synchronous = options_.synchronous,
                    .busy_timeout_ms = options_.busy_timeout_ms},
      in_memory_(options_.path == ":memory:") {
  for (std::string_view name : embedded::sqlite_queries_names()) {
    queries_.emplace(std::string(name),
                     Render(name, embedded::sqlite_queries(name), options_.table));
  }
  for (std::string_view name : embedded::sqlite_migrations_names()) {
    queries_.emplace(std::string(name),
                     Render(name, embedded::sqlite_migrations(name), options_.table));
  }
  queries_.emplace("begin_immediate", "BEGIN IMMEDIATE");
  queries_.emplace("commit", "COMMIT");
  queries_.emplace("rollback", "ROLLBACK");
}

absl::StatusOr<std::shared_ptr<SqliteStore>> SqliteStore::Open(Options options) {
  std::shared_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  absl::StatusOr<std::unique_ptr<Conn>> writer = Conn::Open(store->conn_options_, &store->queries_);
  if (!writer.ok()) return writer.status();
  {
    MutexLock lock(&store->write_mu_);
    store->writer_ = std::move(*writer);
  }
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  if (absl::Status s = store->TrackCounts(); !s.ok()) return s;
  return store;
}

absl::Status SqliteStore::TrackCounts() {
  MutexLock lock(&write_mu_);
  absl::StatusOr<Stmt> columns = writer_->Prepare("job_columns.sql");
  if (!columns.ok()) return columns.status();
  columns->Bind(":table", options_.table);
  int queue_col = -1, state_col = -1;
  while (true) {
    absl::StatusOr<bool> row = columns->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    (columns->Text(1) == "queue" ? queue_col : state_col) = static_cast<int>(columns->Int(0));
  }
  if (queue_col < 0 || state_col < 0) {
    return absl::InternalError("the jobs table has no queue or state column");
  }
  writer_->TrackCounts(options_.table, queue_col, state_col);
  return absl::OkStatus();
}

absl::Status SqliteStore::ApplyCountDeltas(Conn& conn) {
  CountDeltas deltas = conn.TakeCountDeltas();
  if (deltas.empty()) return absl::OkStatus();
  absl::StatusOr<Stmt> apply = conn.Prepare("count_apply.sql");
  if (!apply.ok()) return apply.status();
  for (const auto& [queue, by_state] : deltas) {
    for (size_t i = 0; i < by_state.size(); ++i) {
      if (by_state[i] == 0) continue;
      apply->Reset();
      apply->Bind(":queue", queue)
          .Bind(":state", JobStateName(kAllJobStates[i]))
          .Bind(":n", by_state[i]);
      if (absl::Status s = apply->Run(); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::DoMigrate() {
  // BEGIN IMMEDIATE serializes racing processes: the second one waits, then
  // sees the version the first one recorded and applies nothing.
  return WithWriteTx([&](Conn& conn) -> absl::Status {
    if (absl::Status s = conn.Exec(queries_.at("schema_init.sql"), "create schema_migrations");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<Stmt> version = conn.Prepare("schema_version.sql");
    if (!version.ok()) return version.status();
    if (absl::Status s = version->Step().status(); !s.ok()) return s;
    const int64_t current = version->Int(0);
    version->Reset();
    int64_t latest = 0;
    for (std::string_view name : embedded::sqlite_migrations_names()) {
      int64_t number = 0;
      if (!absl::SimpleAtoi(absl::string_view(name.data(), 3), &number)) {
        return absl::InternalError(
            absl::StrFormat("migration %s is not named NNN_description.sql", name));
      }
      latest = std::max(latest, number);
      if (number <= current) continue;
      if (absl::Status s =
              conn.Exec(queries_.find(name)->second, absl::StrFormat("migration %s", name));
          !s.ok()) {
        return s;
      }
      absl::StatusOr<Stmt> record = conn.Prepare("schema_record.sql");
      if (!record.ok()) return record.status();
      record->Bind(":version", number).Bind(":applied_at", absl::Now());
      if (absl::Status s = record->Run(); !s.ok()) return s;
    }
    if (current > latest) {
      return absl::FailedPreconditionError(
          absl::StrFormat("SQLite database \"%s\" table \"%s\" has schema version %d, newer "
                          "than this build's %d; upgrade popqueue",
                          options_.path, options_.table, current, latest));
    }
    return absl::OkStatus();
  });
}

// --- Notifications ------------------------------------------------------

absl::StatusOr<int> SqliteStore::DoSubscribe(
    std::function<void(const std::string& queue)> on_available) {
  WriterMutexLock lock(&notify_mu_);
  int handle = next_handle_++;
  subscribers_.emplace(handle, std::move(on_available));
  return handle;
}

void SqliteStore::DoUnsubscribe(int handle) {
  WriterMutexLock lock(&notify_mu_);
  subscribers_.erase(handle);
}

void SqliteStore::Notify(const std::set<std::string>& queues) {
  if (queues.empty()) return;
  ReaderMutexLock lock(&notify_mu_);
  for (const auto& [handle, fn] : subscribers_) {
    for (const std::string& queue : queues) fn(queue);
  }
}

// --- Worker-side job changes ----------------------------------------------

absl::StatusOr<JobInsertManyResult> SqliteStore::DoJobInsertMany(
    const JobInsertManyParams& params) {
  std::set<std::string> available;
  absl::StatusOr<JobInsertManyResult> result =
      WithWriteTx([&](Conn& conn) -> absl::StatusOr<JobInsertManyResult> {
        absl::StatusOr<Stmt> find = conn.Prepare("job_find_live_by_identifier.sql");
        if (!find.ok()) return find.status();
        absl::StatusOr<Stmt> insert = conn.Prepare("job_insert.sql");
        if (!insert.ok()) return insert.status();
        JobInsertManyResult out;
        out.reserve(params.jobs.size());
        for (const NewJob& job : params.jobs) {
          absl::StatusOr<EnqueueResult> r = InsertOne(*find, *insert, job, params.now);
          if (!r.ok()) return r.status();
          if (r->inserted && r->state == JobState::kAvailable) {
            available.insert(job.queue);
          }
          out.push_back(*r);
        }
        return out;
      });
  if (result.ok()) Notify(available);
  return result;
}

absl::StatusOr<JobClaimResult> SqliteStore::DoJobClaim(const JobClaimParams& params) {
  const std::set<std::string> queues(params.queues.begin(), params.queues.end());
  return WithWriteTx([&](Conn& conn) -> absl::StatusOr<JobClaimResult> {
    absl::StatusOr<Stmt> paused = conn.Prepare("queue_is_paused.sql");
    if (!paused.ok()) return paused.status();
    absl::StatusOr<Stmt> promote = conn.Prepare("job_promote.sql");
    if (!promote.ok()) return promote.status();
    absl::StatusOr<Stmt> candidates = conn.Prepare("job_claim_candidates.sql");
    if (!candidates.ok()) return candidates.status();

    // (priority, run_at, id) of the first `limit` jobs of each queue; the
    // overall first `limit` are among them.
    std::vector<std::tuple<int64_t, int64_t, JobId>> picks;
    for (const std::string& queue : queues) {
      paused->Reset();
      paused->Bind(":queue", queue);
      absl::StatusOr<bool> is_paused = paused->Step();
      if (!is_paused.ok()) return is_paused.status();
      paused->Reset();
      if (*is_paused) continue;

      promote->Reset();
      promote->Bind(":queue", queue).Bind(":now", params.now);
      if (absl::Status s = promote->Run(); !s.ok()) return s;

      candidates->Reset();
      candidates->Bind(":queue", queue).Bind(":limit", params.limit);
      while (true) {
        absl::StatusOr<bool> row = candidates->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        picks.emplace_back(candidates->Int(1), candidates->Int(2), candidates->Int(0));
      }
    }
    std::sort(picks.begin(), picks.end());
    if (picks.size() > static_cast<size_t>(params.limit)) {
      picks.resize(params.limit);
    }

    absl::StatusOr<Stmt> claim = conn.Prepare("job_claim_one.sql");
    if (!claim.ok()) return claim.status();
    JobClaimResult out;
    out.reserve(picks.size());
    for (const auto& [priority, run_at, id] : picks) {
      claim->Reset();
      claim->Bind(":id", id)
          .Bind(":now", params.now)
          .Bind(":worker_id", params.worker_id)
          .Bind(":lease_token", params.lease_token)
          .Bind(":lease_expires_at", params.now + params.lease);
      absl::StatusOr<bool> row = claim->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::InternalError("claimed job vanished");
      absl::StatusOr<Job> job = ReadJob(*claim);
      if (!job.ok()) return job.status();
      out.push_back(std::move(*job));
    }
    return out;
  });
}

absl::StatusOr<JobIdList> SqliteStore::DoJobCompleteMany(const JobCompleteManyParams& params) {
  std::set<std::string> available;  // dependants released
  absl::StatusOr<JobIdList> out = WithWriteTx([&](Conn& conn) -> absl::StatusOr<JobIdList> {
    absl::StatusOr<Stmt> complete = conn.Prepare("job_complete.sql");
    if (!complete.ok()) return complete.status();
    JobIdList done;
    for (const JobCompleteItem& item : params.items) {
      complete->Reset();
      complete->Bind(":id", item.id)
          .Bind(":lease_token", item.lease_token)
          .Bind(":now", params.now);
      if (item.result) {
        complete->Bind(":result", *item.result);
      } else {
        complete->BindNull(":result");
      }
      absl::StatusOr<bool> row = complete->Step();
      if (!row.ok()) return row.status();
      if (!*row) continue;
      done.push_back(item.id);
      if (item.has_dependants) {
        complete->Reset();
        if (absl::Status s = PropagateOf(conn, item.id, true, params.now, &available); !s.ok()) {
          return s;
        }
      }
    }
    return done;
  });
  if (out.ok()) Notify(available);
  return out;
}

absl::StatusOr<JobIdList> SqliteStore::DoJobFailMany(const JobFailManyParams& params) {
  std::set<std::string> available;  // dependants released over ignore_failure edges
  absl::StatusOr<JobIdList> out = WithWriteTx([&](Conn& conn) -> absl::StatusOr<JobIdList> {
    absl::StatusOr<Stmt> fail = conn.Prepare("job_fail.sql");
    if (!fail.ok()) return fail.status();
    std::optional<Stmt> snooze;  // prepared only for a batch that snoozes
    JobIdList done;
    for (const JobFailItem& item : params.items) {
      if (item.to == JobState::kScheduled) {
        if (!snooze) {
          absl::StatusOr<Stmt> prepared = conn.Prepare("job_snooze.sql");
          if (!prepared.ok()) return prepared.status();
          snooze.emplace(*std::move(prepared));
        }
        snooze->Reset();
        snooze->Bind(":id", item.id)
            .Bind(":lease_token", item.lease_token)
            .Bind(":run_at", item.run_at);
        absl::StatusOr<bool> row = snooze->Step();
        if (!row.ok()) return row.status();
        if (*row) done.push_back(item.id);
        continue;
      }
      fail->Reset();
      fail->Bind(":id", item.id)
          .Bind(":lease_token", item.lease_token)
          .Bind(":to", JobStateName(item.to))
          .Bind(":run_at", item.run_at)
          .Bind(":now", params.now)
          .Bind(":at_ms", absl::ToUnixMillis(params.now))
          .Bind(":message", SanitizeUtf8(item.error));
      absl::StatusOr<bool> row = fail->Step();
      if (!row.ok()) return row.status();
      if (!*row) continue;
      done.push_back(item.id);
      if (item.has_dependants && item.to != JobState::kRetryable) {
        fail->Reset();
        if (absl::Status s = PropagateOf(conn, item.id, false, params.now, &available); !s.ok()) {
          return s;
        }
      }
    }
    return done;
  });
  if (out.ok()) Notify(available);
  return out;
}

absl::StatusOr<JobHeartbeatManyResult> SqliteStore::DoJobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  return WithWriteTx([&](Conn& conn) -> absl::StatusOr<JobHeartbeatManyResult> {
    absl::StatusOr<Stmt> beat = conn.Prepare("job_heartbeat.sql");
    if (!beat.ok()) return beat.status();
    JobHeartbeatManyResult out;
    for (const JobHeartbeatItem& item : params.items) {
      beat->Reset();
      beat->Bind(":id", item.id)
          .Bind(":lease_token", item.lease_token)
          .Bind(":lease_expires_at", params.now + params.lease);
      if (item.progress) {
        beat->Bind(":progress", std::clamp(*item.progress, 0, 100));
      } else {
        beat->BindNull(":progress");
      }
      if (item.stopping) {
        beat->Bind(":stop_reason", item.stopping->reason)
            .Bind(":stopping_since", item.stopping->since)
            .Bind(":stop_overdue", int64_t{item.stopping->overdue ? 1 : 0});
      } else {
        beat->BindNull(":stop_reason")
            .BindNull(":stopping_since")
            .Bind(":stop_overdue", int64_t{0});
      }
      absl::StatusOr<bool> row = beat->Step();
      if (!row.ok()) return row.status();
      if (!*row) continue;
      out.extended.push_back(item.id);
      if (beat->Int(1) != 0) out.cancel_requested.push_back(item.id);
    }
    return out;
  });
}

absl::StatusOr<JobRescueExpiredResult> SqliteStore::DoJobRescueExpired(
    const JobRescueExpiredParams& params) {
  std::set<std::string> retryable;
  absl::StatusOr<JobRescueExpiredResult> rescued =
      WithWriteTx([&](Conn& conn) -> absl::StatusOr<JobRescueExpiredResult> {
        absl::StatusOr<Stmt> rescue = conn.Prepare("job_rescue.sql");
        if (!rescue.ok()) return rescue.status();
        rescue->Bind(":now", params.now)
            .Bind(":at_ms", absl::ToUnixMillis(params.now))
            .Bind(":limit", params.limit);
        JobRescueExpiredResult moved;
        std::vector<Finished> finished;  // dead or cancelled workflow parents
        while (true) {
          absl::StatusOr<bool> row = rescue->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          absl::StatusOr<JobState> to = ParseJobState(rescue->Text(1));
          if (!to.ok()) return absl::InternalError("job_rescue.sql returned a bad state");
          moved.push_back(RescuedJob{.id = rescue->Int(2), .to = *to});
          if (*to == JobState::kRetryable) {
            retryable.insert(rescue->Text(0));
          } else if (!rescue->Text(3).empty()) {
            absl::StatusOr<std::vector<JobEdge>> deps = DecodeEdges(rescue->Text(3));
            if (!deps.ok()) return deps.status();
            finished.push_back(Finished{.id = rescue->Int(2), .dependants = std::move(*deps)});
          }
        }
        rescue->Reset();
        if (!finished.empty()) {
          if (absl::Status s = PropagateFinished(conn, std::move(finished), params.now, &retryable);
              !s.ok()) {
            return s;
          }
        }
        return moved;
      });
  // Rescued retryable jobs are due at once.
  if (rescued.ok()) Notify(retryable);
  return rescued;
}

absl::StatusOr<bool> SqliteStore::DoCronFireOnce(const CronFireOnceParams& params) {
  bool available = false;
  absl::StatusOr<bool> inserted = WithWriteTx([&](Conn& conn) -> absl::StatusOr<bool> {
    absl::StatusOr<Stmt> fire = conn.Prepare("cron_fire_insert.sql");
    if (!fire.ok()) return fire.status();
    fire->Bind(":schedule", params.schedule)
        .Bind(":fire_time", params.fire_time)
        .Bind(":job_id", params.job.id)
        .Bind(":now", params.now);
    if (absl::Status s = fire->Run(); !s.ok()) return s;
    if (conn.Changes() == 0) return false;  // fired already
    absl::StatusOr<Stmt> find = conn.Prepare("job_find_live_by_identifier.sql");
    if (!find.ok()) return find.status();
    absl::StatusOr<Stmt> insert = conn.Prepare("job_insert.sql");
    if (!insert.ok()) return insert.status();
    absl::StatusOr<EnqueueResult> r = InsertOne(*find, *insert, params.job, params.now);
    if (!r.ok()) return r.status();
    available = r->inserted && r->state == JobState::kAvailable;
    return r->inserted;
  });
  if (inserted.ok() && available) Notify({params.job.queue});
  return inserted;
}

}  // namespace sqlite
}  // namespace popqueue::store
