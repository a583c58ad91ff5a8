// Coordination through the store: leadership (a lease document per
// leadership), the worker registry, and cron fires.
//
// - Leadership: findAndModify with upsert on
//   {_id: name, $or: [{leader_id: me}, {expires_at <= now}]}; when another
//   holds an unexpired lease the upsert's insert collides on _id: not elected.
// - Cron: a unique (schedule, fire_time) index on <collection>_cron_fires;
//   the insert that succeeds fires. Fires older than a week are pruned.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"

namespace popqueue::store::mongodb {
namespace {

constexpr absl::Duration kCronFireRetention = absl::Hours(24 * 7);

}  // namespace

// --- Leadership -------------------------------------------------------------

absl::StatusOr<bool> MongoStore::DoLeaderAttemptElect(const LeaderAttemptElectParams& params) {
  return With(leaders_, [&](const Collection& leaders) -> absl::StatusOr<bool> {
    // Matches when free to take (expired) or already ours. When held by
    // another, nothing matches and the upsert's insert collides with the
    // holder's _id: not elected.
    std::vector<Doc> either;
    either.push_back(std::move(Doc().Str("leader_id", params.leader_id)));
    either.push_back(std::move(Doc().Sub("expires_at", Doc().Time("$lte", params.now))));
    Doc query;
    query.Str("_id", params.name).DocArray("$or", either);
    Doc update;
    update.Sub(
        "$set",
        Doc().Str("leader_id", params.leader_id).Time("expires_at", params.now + params.ttl));
    absl::StatusOr<BsonPtr> doc =
        leaders.FindAndModify(query, nullptr, update, /*upsert=*/true, "leader election");
    if (absl::IsAlreadyExists(doc.status())) return false;
    if (!doc.ok()) return doc.status();
    return *doc != nullptr && GetStr(doc->get(), "leader_id").value_or("") == params.leader_id;
  });
}

absl::Status MongoStore::DoLeaderResign(const LeaderResignParams& params) {
  return With(leaders_, [&](const Collection& leaders) -> absl::Status {
    return leaders
        .DeleteOne(Doc().Str("_id", params.name).Str("leader_id", params.leader_id),
                   "leader resign")
        .status();
  });
}

// --- Worker registry
// ----------------------------------------------------------

absl::Status MongoStore::DoWorkerRegister(const WorkerRegisterParams& params) {
  const WorkerInfo& w = params.worker;

  Doc record;
  record.Str("host", w.host)
      .Str("address", w.address)
      .Int64("pid", w.pid)
      .StrArray("queues", w.queues)
      .Time("started_at", w.started_at)
      .Time("last_heartbeat_at", params.now)
      .Int32("running", std::max(w.running, 0));
  return With(workers_, [&](const Collection& workers) -> absl::Status {
    for (int round = 0;; ++round) {
      absl::StatusOr<UpdateResult> r =
          workers.ReplaceOne(Doc().Str("_id", w.id), record, /*upsert=*/true, "register worker");
      if (absl::IsAlreadyExists(r.status()) && round < 2) continue;
      return r.status();
    }
  });
}

absl::Status MongoStore::DoWorkerHeartbeat(const WorkerHeartbeatParams& params) {
  return With(workers_, [&](const Collection& workers) -> absl::Status {
    absl::StatusOr<UpdateResult> r =
        workers.UpdateOne(Doc().Str("_id", params.worker_id),
                          Doc().Sub("$set", Doc()
                                                .Int32("running", std::max(params.running, 0))
                                                .Time("last_heartbeat_at", params.now)),
                          /*upsert=*/false, "worker heartbeat");
    if (!r.ok()) return r.status();
    if (r->matched == 0) {
      return absl::NotFoundError(absl::StrFormat("worker %s is not registered", params.worker_id));
    }
    return absl::OkStatus();
  });
}

absl::Status MongoStore::DoWorkerDeregister(const WorkerDeregisterParams& params) {
  return With(workers_, [&](const Collection& workers) -> absl::Status {
    return workers.DeleteOne(Doc().Str("_id", params.worker_id), "deregister worker").status();
  });
}

absl::StatusOr<std::vector<WorkerInfo>> MongoStore::DoWorkerList(const WorkerListParams& params) {
  return With(workers_, [&](const Collection& workers) -> absl::StatusOr<std::vector<WorkerInfo>> {
    absl::StatusOr<std::vector<BsonPtr>> docs =
        workers.Find(Doc().Sub("last_heartbeat_at", Doc().Time("$gte", params.now - params.ttl)),
                     Doc().Sub("sort", Doc().Int32("_id", 1)), "list workers");
    if (!docs.ok()) return docs.status();
    std::vector<WorkerInfo> out;
    for (const BsonPtr& d : *docs) {
      const bson_t* doc = d.get();
      WorkerInfo w{
          .id = GetStr(doc, "_id").value_or(""),
          .host = GetStr(doc, "host").value_or(""),
          .address = GetStr(doc, "address").value_or(""),
          .pid = GetInt64(doc, "pid").value_or(0),
          .started_at = GetTime(doc, "started_at").value_or(absl::UnixEpoch()),
          .last_heartbeat_at = GetTime(doc, "last_heartbeat_at").value_or(absl::UnixEpoch()),
          .running = static_cast<int>(GetInt64(doc, "running").value_or(0))};
      bson_iter_t it, arr;
      if (bson_iter_init_find(&it, doc, "queues") && BSON_ITER_HOLDS_ARRAY(&it) &&
          bson_iter_recurse(&it, &arr)) {
        while (bson_iter_next(&arr)) {
          if (BSON_ITER_HOLDS_UTF8(&arr)) w.queues.push_back(IterStr(&arr));
        }
      }
      out.push_back(std::move(w));
    }
    return out;
  });
}

// --- Cron -------------------------------------------------------------------

absl::StatusOr<bool> MongoStore::DoCronFireOnce(const CronFireOnceParams& params) {
  Pool::Lease lease(pool_.get());
  Collection fires(*pool_, lease, options_.database, cron_fires_);
  Collection jobs(*pool_, lease, options_.database, jobs_);
  // Fires a week older than this one are forgotten: no process lags that far.
  Doc old;
  old.Str("schedule", params.schedule)
      .Sub("fire_time", Doc().Time("$lt", params.fire_time - kCronFireRetention));
  if (absl::StatusOr<int64_t> pruned = fires.DeleteMany(old, "cron: prune"); !pruned.ok()) {
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
  absl::StatusOr<JobInsertManyResult> inserted = InsertJobs(jobs, {params.job}, params.now);
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

}  // namespace popqueue::store::mongodb
