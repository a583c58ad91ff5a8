// The MongoDB store: one document per job (see job_doc.h for its fields).
//
// MongoDB has no multi-statement transactions on a standalone server (and
// FerretDB, the MongoDB-wire server the tests run, has none at all), so every
// operation is built from single-document atomic writes plus read-backs:
//
// - Claim. One find picks the first `limit` due jobs (available, or
//   scheduled/retryable with run_at <= now) of the unpaused queues in claim
//   order (priority, run_at, _id), with each job's claim_seq. One unordered
//   insertMany then records the claims "<id>:<claim_seq + 1>" in
//   <collection>_claims: the unique _id lets exactly one of several racing
//   claimers record a given claim of a job (a duplicate key means another
//   claimer won it). The winner then moves the job to running with one
//   findAndModify per job, filtered on {_id, state, claim_seq} as found.
//   On MongoDB the findAndModify alone would be atomic; FerretDB's is a read
//   followed by a blind write, so the claim record is what makes claims
//   exclusive on both (docs/mongodb.md). Lost candidates make it look again
//   (three rounds at most), so a claimer under contention fills its batch.
// - Fencing. Complete, fail, heartbeat and rescue are one findAndModify per
//   job whose filter is {_id, state: running, lease_token} (fail also names
//   the attempt it read, rescue the lease expiry it saw): a match is the
//   change, no match means the lease was lost. Per-document calls keep every
//   filter led by _id, which every server serves from the primary key
//   (FerretDB's SQLite backend serves nothing else from an index), and give
//   the exact per-id answer the contract asks for.
// - Identifier uniqueness. A partial unique index is the natural tool but
//   FerretDB lacks partialFilterExpression, so the portable form is used on
//   every server: `unique_key` holds the identifier while the job is
//   non-final and is unset when it becomes final; a unique sparse index on
//   it admits one non-final job per identifier. Inserts look up existing
//   holders first and resolve the rare race (a duplicate-key write error) by
//   looking again.
// - Batch insert is one unordered insertMany. Without transactions "all or
//   nothing" is kept by compensation: on a taken id (kAlreadyExists) or any
//   other failure, the jobs this call inserted are deleted again.
// - Time comes from params and is stored as int64 microseconds, so
//   comparisons never depend on the server's clock.
#include "store/mongodb/mongodb_store.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/ids.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"
#include "store/validate.h"

namespace popqueue::store {

absl::StatusOr<std::shared_ptr<Store>> OpenMongoStore(
    const Url& url, const StoreConfig& config) {
  if (absl::Status s = ValidateIdentifierName("collection", config.collection);
      !s.ok()) {
    return s;
  }
  std::string database = config.db_name;
  if (database.empty()) {
    database = url.path;
    database.erase(0, database.find_first_not_of('/'));
  }
  if (database.empty()) database = "popqueue";
  if (absl::Status s = ValidateIdentifierName("database", database); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<mongodb::MongoStore>> store =
      mongodb::MongoStore::Open({.url = config.url,
                                 .database = database,
                                 .collection = config.collection});
  if (!store.ok()) return store.status();
  return std::shared_ptr<Store>(std::move(*store));
}

namespace mongodb {
namespace {

constexpr int kClaimRounds = 3;
constexpr int kInsertRounds = 5;
constexpr absl::Duration kCronFireRetention = absl::Hours(24 * 7);

// An index specification for createIndexes.
Doc IndexSpec(const char* name, const Doc& keys, bool unique = false,
              bool sparse = false) {
  Doc spec;
  spec.Sub("key", keys).Str("name", name);
  if (unique) spec.Bool("unique", true);
  if (sparse) spec.Bool("sparse", true);
  return spec;
}

Doc Keys(std::initializer_list<std::pair<const char*, int>> fields) {
  Doc keys;
  for (const auto& [field, dir] : fields) keys.Int32(field, dir);
  return keys;
}

Doc ClaimOrder() {
  return Keys({{"priority", 1}, {"run_at", 1}, {"_id", 1}});
}

// Keeps the first item per id: a batch names each job once.
template <typename Item>
std::vector<Item> DedupeById(const std::vector<Item>& items) {
  std::vector<Item> out;
  std::set<JobId> seen;
  for (const Item& item : items) {
    if (seen.insert(item.id).second) out.push_back(item);
  }
  return out;
}

// Due jobs of `queues`: available, or scheduled/retryable with run_at <= now.
Doc DueFilter(const std::vector<std::string>& queues, absl::Time now) {
  std::vector<Doc> due;
  due.push_back(std::move(Doc().Str("state", "available")));
  due.push_back(std::move(
      Doc()
          .Sub("state", InStr({StateStr(JobState::kScheduled),
                               StateStr(JobState::kRetryable)}))
          .Sub("run_at", Doc().Time("$lte", now))));
  Doc filter;
  filter.Sub("queue", InStr(queues)).DocArray("$or", due);
  return filter;
}

// A claim interrupted by an error after it took some jobs: those jobs are
// running under the caller's lease and would wait for the rescuer, so they are
// returned (the caller works them); the error surfaces on the next call.
absl::StatusOr<JobClaimResult> PartialClaim(JobClaimResult claimed,
                                            absl::Status error) {
  if (claimed.empty()) return error;
  return claimed;
}

// Filter of a running job still held under `lease_token`.
Doc Held(JobId id, int64_t lease_token) {
  Doc f;
  f.Int64("_id", id).Str("state", "running").Int64("lease_token", lease_token);
  return f;
}

}  // namespace

Doc InInt64(const std::vector<int64_t>& values) {
  return std::move(Doc().Int64Array("$in", values));
}

Doc InStr(const std::vector<std::string>& values) {
  return std::move(Doc().StrArray("$in", values));
}

Doc IdIn(const std::vector<JobId>& ids) {
  return std::move(Doc().Sub("_id", InInt64(ids)));
}

MongoStore::MongoStore(Options options)
    : options_(std::move(options)),
      jobs_(options_.collection),
      queues_(options_.collection + "_queues"),
      leaders_(options_.collection + "_leaders"),
      workers_(options_.collection + "_workers"),
      cron_fires_(options_.collection + "_cron_fires"),
      claims_(options_.collection + "_claims") {}

absl::StatusOr<std::shared_ptr<MongoStore>> MongoStore::Open(Options options) {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(options.url);
  if (!pool.ok()) return pool.status();
  std::shared_ptr<MongoStore> store(new MongoStore(std::move(options)));
  store->pool_ = std::move(*pool);
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  return store;
}

absl::Status MongoStore::Migrate() {
  // createIndexes is idempotent and safe to race: an index that exists with
  // the same specification is left alone.
  std::vector<Doc> job_indexes;
  // The claim: available jobs of a queue in claim order.
  job_indexes.push_back(IndexSpec(
      "claim", Keys({{"state", 1}, {"queue", 1}, {"priority", 1},
                     {"run_at", 1}, {"_id", 1}})));
  // Promotion of due scheduled/retryable jobs.
  job_indexes.push_back(IndexSpec("due", Keys({{"state", 1}, {"run_at", 1}})));
  // The rescuer.
  job_indexes.push_back(
      IndexSpec("lease", Keys({{"state", 1}, {"lease_expires_at", 1}})));
  // The cleaner.
  job_indexes.push_back(
      IndexSpec("finished", Keys({{"state", 1}, {"finished_at", 1}})));
  // At most one non-final job per identifier (see job_doc.h).
  job_indexes.push_back(IndexSpec("unique_key", Keys({{"unique_key", 1}}),
                                  /*unique=*/true, /*sparse=*/true));
  // Listing, newest first, by state, name, queue or identifier.
  job_indexes.push_back(IndexSpec("state_id", Keys({{"state", 1}, {"_id", -1}})));
  job_indexes.push_back(IndexSpec("name_id", Keys({{"name", 1}, {"_id", -1}})));
  job_indexes.push_back(IndexSpec("queue_id", Keys({{"queue", 1}, {"_id", -1}})));
  job_indexes.push_back(
      IndexSpec("identifier_id", Keys({{"identifier", 1}, {"_id", -1}})));

  const std::vector<std::pair<std::string, std::vector<Doc>>> plan = [&] {
    std::vector<std::pair<std::string, std::vector<Doc>>> p;
    p.emplace_back(jobs_, std::move(job_indexes));
    std::vector<Doc> fires;
    fires.push_back(IndexSpec("schedule_fire_time",
                              Keys({{"schedule", 1}, {"fire_time", 1}}),
                              /*unique=*/true));
    p.emplace_back(cron_fires_, std::move(fires));
    std::vector<Doc> claims;
    claims.push_back(IndexSpec("job_id", Keys({{"job_id", 1}})));
    p.emplace_back(claims_, std::move(claims));
    std::vector<Doc> workers;
    workers.push_back(IndexSpec("last_heartbeat_at",
                                Keys({{"last_heartbeat_at", 1}})));
    p.emplace_back(workers_, std::move(workers));
    return p;
  }();
  for (const auto& [collection, indexes] : plan) {
    absl::Status s = With(collection, [&](const Collection& c) {
      Doc cmd;
      cmd.Str("createIndexes", collection).DocArray("indexes", indexes);
      return c.Command(cmd, absl::StrFormat("create indexes on %s", collection));
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// --- Insert ---------------------------------------------------------------

absl::StatusOr<JobInsertManyResult> MongoStore::JobInsertMany(
    const JobInsertManyParams& params) {
  if (params.jobs.empty()) return JobInsertManyResult();
  for (const NewJob& job : params.jobs) {
    if (absl::Status s = ValidateNewJob(job); !s.ok()) return s;
  }
  return With(jobs_, [&](const Collection& jobs) {
    return InsertJobs(jobs, params.jobs, params.now);
  });
}

absl::StatusOr<JobInsertManyResult> MongoStore::InsertJobs(
    const Collection& jobs, const std::vector<NewJob>& batch, absl::Time now) {
  const size_t n = batch.size();
  JobInsertManyResult out(n);
  // A later job of the batch with the identifier of an earlier one reports
  // the earlier one's outcome.
  std::vector<int> same_as(n, -1);
  std::map<std::string, size_t> first_by_identifier;
  std::vector<size_t> pending;
  for (size_t i = 0; i < n; ++i) {
    const std::string& identifier = batch[i].identifier;
    if (!identifier.empty()) {
      auto [it, fresh] = first_by_identifier.emplace(identifier, i);
      if (!fresh) {
        same_as[i] = static_cast<int>(it->second);
        continue;
      }
    }
    pending.push_back(i);
  }

  std::vector<JobId> inserted;  // by this call, for compensation
  auto undo = [&](absl::Status cause) -> absl::Status {
    if (!inserted.empty()) {
      absl::StatusOr<int64_t> removed =
          jobs.DeleteMany(IdIn(inserted), "undo a partial insert");
      if (!removed.ok()) {
        return absl::Status(
            cause.code(),
            absl::StrFormat("%s (and %d jobs of the batch may remain stored: "
                            "%s)",
                            std::string(cause.message()), inserted.size(),
                            std::string(removed.status().message())));
      }
    }
    return cause;
  };

  for (int round = 0; !pending.empty(); ++round) {
    if (round == kInsertRounds) {
      return undo(absl::AbortedError(
          "enqueue: identifiers kept changing hands; retry the batch"));
    }
    // Non-final jobs that already hold these identifiers.
    std::vector<std::string> identifiers;
    for (size_t i : pending) {
      if (!batch[i].identifier.empty()) identifiers.push_back(batch[i].identifier);
    }
    std::map<std::string, EnqueueResult> holders;
    if (!identifiers.empty()) {
      absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(
          Doc().Sub("unique_key", InStr(identifiers)),
          Doc().Sub("projection",
                    Keys({{"_id", 1}, {"state", 1}, {"unique_key", 1}})),
          "enqueue: find identifiers");
      if (!docs.ok()) return undo(docs.status());
      for (const BsonPtr& d : *docs) {
        absl::StatusOr<JobState> state = ReadState(d.get());
        if (!state.ok()) return undo(state.status());
        holders[GetStr(d.get(), "unique_key").value_or("")] =
            EnqueueResult{.id = GetInt64(d.get(), "_id").value_or(0),
                          .inserted = false,
                          .state = *state};
      }
    }
    std::vector<size_t> to_insert;
    std::vector<Doc> docs;
    for (size_t i : pending) {
      const NewJob& job = batch[i];
      if (!job.identifier.empty()) {
        auto it = holders.find(job.identifier);
        if (it != holders.end()) {
          out[i] = it->second;
          continue;
        }
      }
      const JobState state =
          job.run_at > now ? JobState::kScheduled : JobState::kAvailable;
      out[i] = EnqueueResult{.id = job.id, .inserted = true, .state = state};
      to_insert.push_back(i);
      docs.push_back(NewJobDoc(job, state, now));
    }
    pending.clear();
    if (to_insert.empty()) break;
    std::vector<const bson_t*> ptrs;
    for (const Doc& d : docs) ptrs.push_back(d.get());
    absl::StatusOr<std::vector<WriteError>> errors =
        jobs.InsertMany(ptrs, "enqueue");
    if (!errors.ok()) {
      // Unknown how much of it landed: remove all of it.
      for (size_t i : to_insert) inserted.push_back(batch[i].id);
      return undo(errors.status());
    }
    std::set<size_t> failed;
    for (const WriteError& e : *errors) {
      if (e.index >= to_insert.size()) {
        return undo(absl::InternalError("enqueue: write error out of range"));
      }
      if (e.code != kDuplicateKey) {
        for (size_t k = 0; k < to_insert.size(); ++k) {
          if (!failed.count(k)) inserted.push_back(batch[to_insert[k]].id);
        }
        return undo(absl::InvalidArgumentError(absl::StrFormat(
            "enqueue: job %d was refused by the server: %s",
            batch[to_insert[e.index]].id, e.message)));
      }
      failed.insert(e.index);
    }
    std::vector<JobId> duplicate_ids;
    for (size_t k = 0; k < to_insert.size(); ++k) {
      if (failed.count(k)) {
        duplicate_ids.push_back(batch[to_insert[k]].id);
        pending.push_back(to_insert[k]);
      } else {
        inserted.push_back(batch[to_insert[k]].id);
      }
    }
    if (duplicate_ids.empty()) break;
    // A duplicate key is either a taken id or an identifier that another
    // enqueue took meanwhile; the write error does not say which on every
    // server, so look for the ids.
    absl::StatusOr<std::vector<BsonPtr>> taken = jobs.Find(
        IdIn(duplicate_ids), Doc().Sub("projection", Keys({{"_id", 1}})),
        "enqueue: find ids");
    if (!taken.ok()) return undo(taken.status());
    if (!taken->empty()) {
      return undo(absl::AlreadyExistsError(absl::StrFormat(
          "job id %d is already taken", GetInt64((*taken)[0].get(), "_id").value_or(0))));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (same_as[i] >= 0) {
      out[i] = out[same_as[i]];
      out[i].inserted = false;
    }
  }
  return out;
}

// --- Claim ----------------------------------------------------------------

absl::StatusOr<JobClaimResult> MongoStore::JobClaim(
    const JobClaimParams& params) {
  if (params.limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("claim limit %d: expected >= 0", params.limit));
  }
  if (params.lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("claim lease must be positive");
  }
  if (params.limit == 0 || params.queues.empty()) return JobClaimResult();
  Pool::Lease lease(pool_.get());
  Collection jobs(*pool_, lease, options_.database, jobs_);
  Collection queues(*pool_, lease, options_.database, queues_);
  Collection claims(*pool_, lease, options_.database, claims_);

  absl::StatusOr<std::vector<BsonPtr>> paused = queues.Find(
      Doc().Sub("_id", InStr(params.queues)).Bool("paused", true),
      Doc().Sub("projection", Keys({{"_id", 1}})), "claim: paused queues");
  if (!paused.ok()) return paused.status();
  std::set<std::string> active(params.queues.begin(), params.queues.end());
  for (const BsonPtr& d : *paused) active.erase(GetStr(d.get(), "_id").value_or(""));
  if (active.empty()) return JobClaimResult();
  const std::vector<std::string> names(active.begin(), active.end());

  JobClaimResult out;
  std::vector<JobId> lost;
  for (int round = 0; round < kClaimRounds; ++round) {
    const int want = params.limit - static_cast<int>(out.size());
    Doc filter = DueFilter(names, params.now);
    if (!lost.empty()) filter.Sub("_id", Doc().Int64Array("$nin", lost));
    Doc opts;
    opts.Sub("sort", ClaimOrder())
        .Int64("limit", want)
        .Sub("projection", Keys({{"_id", 1}, {"state", 1}, {"claim_seq", 1}}));
    absl::StatusOr<std::vector<BsonPtr>> found =
        jobs.Find(filter, opts, "claim: find due jobs");
    if (!found.ok()) return PartialClaim(std::move(out), found.status());
    if (found->empty()) break;
    // One claim record per (job, claim_seq + 1): of several claimers that
    // saw the job in the same state exactly one inserts it.
    std::vector<Doc> records;
    std::vector<const bson_t*> record_ptrs;
    for (const BsonPtr& candidate : *found) {
      const JobId id = GetInt64(candidate.get(), "_id").value_or(0);
      const int64_t seq = GetInt64(candidate.get(), "claim_seq").value_or(0);
      records.push_back(std::move(Doc()
                                      .Str("_id", absl::StrFormat("%d:%d", id, seq + 1))
                                      .Int64("job_id", id)
                                      .Str("worker_id", params.worker_id)
                                      .Time("at", params.now)));
    }
    for (const Doc& r : records) record_ptrs.push_back(r.get());
    absl::StatusOr<std::vector<WriteError>> refused =
        claims.InsertMany(record_ptrs, "claim: record claims");
    if (!refused.ok()) return PartialClaim(std::move(out), refused.status());
    std::set<size_t> lost_here;
    for (const WriteError& e : *refused) {
      if (e.code != kDuplicateKey) {
        return PartialClaim(std::move(out),
                            absl::InternalError(absl::StrFormat(
                                "claim: the server refused a claim record: %s",
                                e.message)));
      }
      lost_here.insert(e.index);
    }
    bool lost_some = !lost_here.empty();
    for (size_t k = 0; k < found->size(); ++k) {
      const bson_t* candidate = (*found)[k].get();
      const JobId id = GetInt64(candidate, "_id").value_or(0);
      if (lost_here.count(k)) {
        lost.push_back(id);
        continue;
      }
      const std::string state = GetStr(candidate, "state").value_or("");
      const int64_t seq = GetInt64(candidate, "claim_seq").value_or(0);
      // Still as it was found (an admin may have cancelled it meanwhile).
      Doc mine;
      mine.Int64("_id", id).Str("state", state).Int64("claim_seq", seq);
      Doc update;
      update.Sub("$set", Doc()
                             .Str("state", "running")
                             .Time("picked_at", params.now)
                             .Str("worker_id", params.worker_id)
                             .Int64("lease_token", params.lease_token)
                             .Time("lease_expires_at", params.now + params.lease)
                             .Bool("cancel_requested", false)
                             .Int64("claim_seq", seq + 1))
          .Sub("$inc", Doc().Int32("attempt", 1));
      absl::StatusOr<BsonPtr> doc =
          jobs.FindAndModify(mine, nullptr, update, /*upsert=*/false, "claim");
      if (!doc.ok()) return PartialClaim(std::move(out), doc.status());
      if (*doc == nullptr) {
        lost.push_back(id);
        lost_some = true;
        continue;
      }
      absl::StatusOr<Job> job = ReadJob(doc->get());
      if (!job.ok()) return job.status();
      out.push_back(std::move(*job));
    }
    if (!lost_some || static_cast<int>(found->size()) < want) break;
  }
  std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
    return std::tie(a.priority, a.run_at, a.id) <
           std::tie(b.priority, b.run_at, b.id);
  });
  return out;
}

// --- Complete, fail, heartbeat, rescue --------------------------------------

absl::StatusOr<JobIdList> MongoStore::JobCompleteMany(
    const JobCompleteManyParams& params) {
  const std::vector<JobCompleteItem> items = DedupeById(params.items);
  if (items.empty()) return JobIdList();
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobIdList> {
    JobIdList out;
    for (const JobCompleteItem& item : items) {
      Doc set;
      set.Str("state", "completed")
          .Time("finished_at", params.now)
          .Bool("cancel_requested", false);
      Doc unset;
      unset.Str("lease_expires_at", "").Str("unique_key", "");
      if (item.result) {
        set.Str("result", *item.result);
      } else {
        unset.Str("result", "");
      }
      absl::StatusOr<BsonPtr> doc = jobs.FindAndModify(
          Held(item.id, item.lease_token), nullptr,
          Doc().Sub("$set", set).Sub("$unset", unset), /*upsert=*/false,
          "complete");
      if (!doc.ok()) return doc.status();
      if (*doc != nullptr) out.push_back(item.id);
    }
    return out;
  });
}

absl::StatusOr<JobIdList> MongoStore::JobFailMany(
    const JobFailManyParams& params) {
  const std::vector<JobFailItem> items = DedupeById(params.items);
  if (items.empty()) return JobIdList();
  for (const JobFailItem& item : items) {
    if (item.to != JobState::kRetryable && item.to != JobState::kDead &&
        item.to != JobState::kCancelled) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "job %d: a failed job goes to retryable, dead or cancelled, not %s",
          item.id, JobStateName(item.to)));
    }
  }
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobIdList> {
    JobIdList out;
    for (const JobFailItem& item : items) {
      // The attempt number, for the error entry; the change below is fenced
      // on it too, so the entry always names the attempt that failed.
      absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(
          Doc().Int64("_id", item.id),
          Doc().Sub("projection", Keys({{"attempt", 1}})), "fail: read attempt");
      if (!docs.ok()) return docs.status();
      if (docs->empty()) continue;
      const int64_t attempt = GetInt64((*docs)[0].get(), "attempt").value_or(0);
      Doc set;
      set.Str("state", JobStateName(item.to)).Bool("cancel_requested", false);
      Doc unset;
      unset.Str("lease_expires_at", "");
      if (item.to == JobState::kRetryable) {
        set.Time("run_at", item.run_at);
        unset.Str("finished_at", "");
      } else {
        set.Time("finished_at", params.now);
        unset.Str("unique_key", "");
      }
      Doc error;
      error.Int32("attempt", static_cast<int32_t>(attempt))
          .Int64("at", absl::ToUnixMillis(params.now))
          .Str("message", item.error);
      Doc filter = Held(item.id, item.lease_token);
      filter.Int64("attempt", attempt);
      absl::StatusOr<BsonPtr> doc = jobs.FindAndModify(
          filter, nullptr,
          Doc().Sub("$set", set).Sub("$unset", unset).Sub(
              "$push", Doc().Sub("errors", error)),
          /*upsert=*/false, "fail");
      if (!doc.ok()) return doc.status();
      if (*doc != nullptr) out.push_back(item.id);
    }
    return out;
  });
}

absl::StatusOr<JobHeartbeatManyResult> MongoStore::JobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  const std::vector<JobHeartbeatItem> items = DedupeById(params.items);
  return With(jobs_, [&](const Collection& jobs)
                         -> absl::StatusOr<JobHeartbeatManyResult> {
    JobHeartbeatManyResult out;
    for (const JobHeartbeatItem& item : items) {
      Doc set;
      set.Time("lease_expires_at", params.now + params.lease);
      if (item.progress) {
        set.Int32("progress", std::clamp(*item.progress, 0, 100));
      }
      absl::StatusOr<BsonPtr> doc = jobs.FindAndModify(
          Held(item.id, item.lease_token), nullptr, Doc().Sub("$set", set),
          /*upsert=*/false, "heartbeat");
      if (!doc.ok()) return doc.status();
      if (*doc == nullptr) continue;
      out.extended.push_back(item.id);
      if (GetBool(doc->get(), "cancel_requested")) {
        out.cancel_requested.push_back(item.id);
      }
    }
    return out;
  });
}

absl::StatusOr<int> MongoStore::JobRescueExpired(
    const JobRescueExpiredParams& params) {
  if (params.limit <= 0) return 0;
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<int> {
    Doc expired;
    expired.Str("state", "running")
        .Sub("lease_expires_at", Doc().Time("$lt", params.now));
    absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(
        expired,
        Doc()
            .Sub("sort", Keys({{"lease_expires_at", 1}}))
            .Int64("limit", params.limit)
            .Sub("projection",
                 Keys({{"_id", 1}, {"attempt", 1}, {"max_attempts", 1},
                       {"cancel_requested", 1}, {"worker_id", 1},
                       {"lease_token", 1}, {"lease_expires_at", 1}})),
        "rescue: find expired");
    if (!docs.ok()) return docs.status();
    int rescued = 0;
    for (const BsonPtr& d : *docs) {
      const bson_t* doc = d.get();
      const int64_t attempt = GetInt64(doc, "attempt").value_or(0);
      const bool cancel = GetBool(doc, "cancel_requested");
      const bool retry =
          !cancel && attempt < GetInt64(doc, "max_attempts").value_or(0);
      const JobState to = cancel  ? JobState::kCancelled
                          : retry ? JobState::kRetryable
                                  : JobState::kDead;
      Doc set;
      set.Str("state", JobStateName(to)).Bool("cancel_requested", false);
      Doc unset;
      unset.Str("lease_expires_at", "");
      if (retry) {
        set.Time("run_at", params.now);
        unset.Str("finished_at", "");
      } else {
        set.Time("finished_at", params.now);
        unset.Str("unique_key", "");
      }
      Doc error;
      error.Int32("attempt", static_cast<int32_t>(attempt))
          .Int64("at", absl::ToUnixMillis(params.now))
          .Str("message",
               absl::StrFormat("lease expired (worker %s)",
                               GetStr(doc, "worker_id").value_or("")));
      // Unchanged since it was read: same lease, not heartbeaten since.
      Doc filter = Held(GetInt64(doc, "_id").value_or(0),
                        GetInt64(doc, "lease_token").value_or(0));
      filter.Int64("lease_expires_at",
                   GetInt64(doc, "lease_expires_at").value_or(0));
      absl::StatusOr<BsonPtr> changed = jobs.FindAndModify(
          filter, nullptr,
          Doc().Sub("$set", set).Sub("$unset", unset).Sub(
              "$push", Doc().Sub("errors", error)),
          /*upsert=*/false, "rescue");
      if (!changed.ok()) return changed.status();
      if (*changed != nullptr) ++rescued;
    }
    return rescued;
  });
}

// --- Cron -------------------------------------------------------------------

absl::StatusOr<bool> MongoStore::CronFireOnce(const CronFireOnceParams& params) {
  if (params.schedule.empty()) {
    return absl::InvalidArgumentError("cron schedule name must not be empty");
  }
  if (absl::Status s = ValidateNewJob(params.job); !s.ok()) return s;
  Pool::Lease lease(pool_.get());
  Collection fires(*pool_, lease, options_.database, cron_fires_);
  Collection jobs(*pool_, lease, options_.database, jobs_);
  // Fires a week older than this one are forgotten: no process lags that far.
  Doc old;
  old.Str("schedule", params.schedule)
      .Sub("fire_time", Doc().Time("$lt", params.fire_time - kCronFireRetention));
  if (absl::StatusOr<int64_t> pruned = fires.DeleteMany(old, "cron: prune");
      !pruned.ok()) {
    return pruned.status();
  }
  // The unique (schedule, fire_time) index makes this insert the once.
  Doc fire;
  fire.Str("schedule", params.schedule)
      .Time("fire_time", params.fire_time)
      .Int64("job_id", params.job.id)
      .Time("created_at", params.now);
  absl::Status recorded = fires.InsertOne(fire, "cron: record fire");
  if (absl::IsAlreadyExists(recorded)) return false;
  if (!recorded.ok()) return recorded;
  absl::StatusOr<JobInsertManyResult> inserted =
      InsertJobs(jobs, {params.job}, params.now);
  if (!inserted.ok()) {
    // Forget the fire so that a retry (e.g. with a fresh id) can insert it.
    Doc mine;
    mine.Str("schedule", params.schedule)
        .Time("fire_time", params.fire_time)
        .Int64("job_id", params.job.id);
    (void)fires.DeleteOne(mine, "cron: forget fire");
    return inserted.status();
  }
  return (*inserted)[0].inserted;
}

}  // namespace mongodb
}  // namespace popqueue::store
