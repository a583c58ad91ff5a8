// The MongoDB store: one document per job (see job_doc.h for its fields).
//
// MongoDB has no multi-statement transactions on a standalone server (and
// FerretDB, the MongoDB-wire server the tests run, has none at all), so every
// operation is built from single-document atomic writes plus read-backs. The
// operations live in one file per concern (mongodb_store_impl.h lists them);
// this file opens the store and creates the indexes. The mechanisms:
//
// - Every query of the hot path is equality on top-level fields, because
//   that is all FerretDB hands to its SQL backend (as jsonb containment);
//   anything else (ranges, $in, $or, sort, limit with a filter) it evaluates
//   in Go over every document the equality part matched. Hence the
//   denormalised fields `key` (the id as a string: ids exceed 2^53, which
//   FerretDB does not push down exactly), `ready` ("<queue>|<priority>" on
//   available jobs) and `wait` (the queue of scheduled/retryable jobs). On
//   MongoDB the same filters are served by the indexes created below.
// - Claim (mongodb_claim.cc). Candidates per unpaused queue: due waiting jobs
//   ({wait: queue, run_at <= now}) and available ones per priority level
//   ({ready: "queue|priority"}), merged in claim order (priority, run_at,
//   _id). One unordered insertMany of claim records "<id>:<claim_seq + 1>"
//   into <collection>_claims: the unique _id lets exactly one of several
//   racing claimers win each claim of a job (FerretDB's findAndModify is a
//   read followed by a blind write, so it cannot decide that itself:
//   tests/mongodb/mongodb_atomicity_test.cc). One unordered bulk update then
//   moves the won jobs to running, filtered on {_id, ready|wait, state,
//   claim_seq} as found: the state precondition in the filter, the form
//   MongoDB documents as atomic. A found document that no longer matches its
//   find is dropped first (mongo-java-server may return one that changed
//   after its index matched it).
// - Fencing (mongodb_lease.cc). Complete, fail, heartbeat and rescue filter
//   on {_id, key, state: running, lease_token}: a match is the change, no
//   match means the lease was lost.
// - Identifier uniqueness. A partial unique index is the natural tool but
//   FerretDB lacks partialFilterExpression, so the portable form is used on
//   every server: `unique_key` holds the identifier while the job is
//   non-final and is unset when it becomes final; a unique sparse index on
//   it admits one non-final job per identifier.
// - Batch insert is one unordered insertMany. Without transactions "all or
//   nothing" is kept by compensation (mongodb_insert.cc).
// - Time comes from params and is stored as int64 microseconds, so
//   comparisons never depend on the server's clock.
#include "store/mongodb/mongodb_store.h"

#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"
#include "store/mongodb/mongodb_url.h"
#include "store/validate.h"

namespace popqueue::store {

absl::StatusOr<std::shared_ptr<Store>> OpenMongoStore(const Url& /*url*/,
                                                      const StoreConfig& config) {
  if (absl::Status s = ValidateIdentifierName("collection", config.collection); !s.ok()) {
    return s;
  }
  // libmongoc parses the URL (several hosts, replicaSet, ...); `url` only
  // chose this backend.
  absl::StatusOr<mongodb::MongoUrl> parsed = mongodb::ParseMongoUrl(config.url);
  if (!parsed.ok()) return parsed.status();
  std::string database = config.db_name;
  if (database.empty()) database = parsed->database;
  if (database.empty()) database = "popqueue";
  if (absl::Status s = ValidateIdentifierName("database", database); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<mongodb::MongoStore>> store = mongodb::MongoStore::Open(
      {.url = config.url, .database = database, .collection = config.collection});
  if (!store.ok()) return store.status();
  return std::shared_ptr<Store>(std::move(*store));
}

namespace mongodb {
namespace {

constexpr int kMigrateAttempts = 3;

// An index specification for createIndexes.
Doc IndexSpec(const char* name, const Doc& keys, bool unique = false, bool sparse = false) {
  Doc spec;
  spec.Sub("key", keys).Str("name", name);
  if (unique) spec.Bool("unique", true);
  if (sparse) spec.Bool("sparse", true);
  return spec;
}

}  // namespace

Doc Keys(std::initializer_list<std::pair<const char*, int>> fields) {
  Doc keys;
  for (const auto& [field, dir] : fields) keys.Int32(field, dir);
  return keys;
}

Doc ClaimOrder() { return Keys({{"priority", 1}, {"run_at", 1}, {"_id", 1}}); }

Doc InInt64(const std::vector<int64_t>& values) {
  return std::move(Doc().Int64Array("$in", values));
}

Doc InStr(const std::vector<std::string>& values) {
  return std::move(Doc().StrArray("$in", values));
}

Doc IdIn(const std::vector<JobId>& ids) { return std::move(Doc().Sub("_id", InInt64(ids))); }

MongoStore::MongoStore(Options options)
    : options_(std::move(options)),
      jobs_(options_.collection),
      queues_(options_.collection + "_queues"),
      leaders_(options_.collection + "_leaders"),
      workers_(options_.collection + "_workers"),
      cron_fires_(options_.collection + "_cron_fires"),
      claims_(options_.collection + "_claims"),
      levels_(options_.collection + "_levels") {}

absl::StatusOr<std::shared_ptr<MongoStore>> MongoStore::Open(Options options) {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(options.url);
  if (!pool.ok()) return pool.status();
  std::shared_ptr<MongoStore> store(new MongoStore(std::move(options)));
  store->pool_ = std::move(*pool);
  // FerretDB names itself in buildInfo; MongoDB does not.
  absl::StatusOr<BsonPtr> info = store->With(store->jobs_, [](const Collection& c) {
    return c.ReadCommand(Doc().Int32("buildInfo", 1), "buildInfo");
  });
  if (!info.ok()) return info.status();
  bson_iter_t it;
  store->ferretdb_ = bson_iter_init_find(&it, info->get(), "ferretdbVersion");
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  return store;
}

absl::Status MongoStore::DoMigrate() {
  // createIndexes is idempotent and safe to race: an index that exists with
  // the same specification is left alone.
  std::vector<Doc> job_indexes;
  // The claim: available jobs of a priority level in claim order, and due
  // waiting jobs of a queue.
  job_indexes.push_back(IndexSpec("ready", Keys({{"ready", 1}, {"run_at", 1}, {"_id", 1}})));
  job_indexes.push_back(
      IndexSpec("wait", Keys({{"wait", 1}, {"priority", 1}, {"run_at", 1}, {"_id", 1}})));
  // The rescuer.
  job_indexes.push_back(IndexSpec("lease", Keys({{"state", 1}, {"lease_expires_at", 1}})));
  // The cleaner.
  job_indexes.push_back(IndexSpec("finished", Keys({{"state", 1}, {"finished_at", 1}})));
  // At most one non-final job per identifier (see job_doc.h).
  job_indexes.push_back(IndexSpec("unique_key", Keys({{"unique_key", 1}}),
                                  /*unique=*/true, /*sparse=*/true));
  // Listing, newest first, by state, name, queue or identifier.
  job_indexes.push_back(IndexSpec("state_id", Keys({{"state", 1}, {"_id", -1}})));
  job_indexes.push_back(IndexSpec("name_id", Keys({{"name", 1}, {"_id", -1}})));
  job_indexes.push_back(IndexSpec("queue_id", Keys({{"queue", 1}, {"_id", -1}})));
  job_indexes.push_back(IndexSpec("identifier_id", Keys({{"identifier", 1}, {"_id", -1}})));
  // A workflow's jobs (absent on plain jobs).
  job_indexes.push_back(IndexSpec("wf", Keys({{"wf", 1}, {"_id", 1}}), /*unique=*/false,
                                  /*sparse=*/true));

  std::vector<std::pair<std::string, std::vector<Doc>>> plan;
  plan.emplace_back(jobs_, std::move(job_indexes));
  std::vector<Doc> fires;
  fires.push_back(IndexSpec("schedule_fire_time", Keys({{"schedule", 1}, {"fire_time", 1}}),
                            /*unique=*/true));
  plan.emplace_back(cron_fires_, std::move(fires));
  std::vector<Doc> claims;
  claims.push_back(IndexSpec("job_id", Keys({{"job_id", 1}})));
  plan.emplace_back(claims_, std::move(claims));
  std::vector<Doc> levels;
  levels.push_back(IndexSpec("queue", Keys({{"queue", 1}})));
  plan.emplace_back(levels_, std::move(levels));
  std::vector<Doc> workers;
  workers.push_back(IndexSpec("last_heartbeat_at", Keys({{"last_heartbeat_at", 1}})));
  plan.emplace_back(workers_, std::move(workers));
  for (const auto& entry : plan) {
    // Named references, not a structured binding: lambdas capture those only
    // from C++20 compilers newer than Debian 12's clang 14.
    const auto& collection = entry.first;
    const auto& indexes = entry.second;
    absl::Status s = With(collection, [&](const Collection& c) {
      // Only what is missing: the usual start (indexes in place) writes
      // nothing, so processes starting together do not race on createIndexes
      // (which FerretDB answers by dropping the connection now and then).
      absl::Status created;
      for (int attempt = 0; attempt < kMigrateAttempts; ++attempt) {
        if (attempt > 0) absl::SleepFor(absl::Milliseconds(200 * attempt));
        absl::StatusOr<std::vector<std::string>> existing =
            c.IndexNames(absl::StrFormat("list indexes of %s", collection));
        if (!existing.ok()) {
          created = existing.status();
          continue;
        }
        const std::set<std::string> have(existing->begin(), existing->end());
        std::vector<Doc> missing;
        for (const Doc& spec : indexes) {
          if (!have.count(GetStr(spec.get(), "name").value_or(""))) {
            missing.push_back(Doc(bson_copy(spec.get())));
          }
        }
        if (missing.empty()) return absl::OkStatus();
        Doc cmd;
        cmd.Str("createIndexes", collection).DocArray("indexes", missing);
        created = c.Command(cmd, absl::StrFormat("create indexes on %s", collection));
        if (created.ok()) return created;
      }
      return created;
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MongoStore::RegisterLevels(const std::vector<std::pair<std::string, int>>& levels) {
  std::vector<std::pair<std::string, int>> fresh;
  {
    MutexLock lock(&levels_mu_);
    for (const auto& level : levels) {
      if (!known_levels_.count(level)) fresh.push_back(level);
    }
  }
  if (fresh.empty()) return absl::OkStatus();
  std::vector<Doc> docs;
  for (const auto& [queue, priority] : fresh) {
    docs.push_back(std::move(Doc()
                                 .Str("_id", ReadyKey(queue, priority))
                                 .Str("queue", queue)
                                 .Int32("priority", priority)));
  }
  std::vector<const bson_t*> ptrs;
  for (const Doc& d : docs) ptrs.push_back(d.get());
  absl::StatusOr<std::vector<WriteError>> errors = With(
      levels_, [&](const Collection& c) { return c.InsertMany(ptrs, "record priority levels"); });
  if (!errors.ok()) return errors.status();
  for (const WriteError& e : *errors) {
    // A duplicate key: another process recorded the level first.
    if (e.code != kDuplicateKey) {
      return absl::InternalError(
          absl::StrFormat("record priority levels: the server refused one: %s", e.message));
    }
  }
  MutexLock lock(&levels_mu_);
  known_levels_.insert(fresh.begin(), fresh.end());
  return absl::OkStatus();
}

}  // namespace mongodb
}  // namespace popqueue::store
