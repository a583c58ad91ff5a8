// Changes a worker makes to the jobs it holds: complete, fail, heartbeat, and
// the rescue of expired leases.
//
// Fencing: every change filters on {state: running, lease_token} and the
// job (fail also on the attempt it read, rescue on the lease expiry it saw).
// A match is the change; no match means the lease was lost.
//
// Completions go in one unordered bulk of one update per claim (lease token)
// and result: FerretDB scans the whole collection once per query, so
// per-job updates would cost a scan each. The reply's match count settles
// the common case (every lease held), a read-back the rest. Heartbeats
// likewise, with one read per claim for the cancel requests. A read-back
// recognizes this call's writes by the time it wrote (finished_at, the new
// lease_expires_at), so it compares whole microseconds, as stored (AsStored):
// an absl::Time from the real clock has nanoseconds, and comparing those made
// every heartbeat report every lease lost, so a worker dropped each job still
// running at its first heartbeat and discarded its outcome. Fail and rescue
// are one findAndModify per job, because each change depends on that job
// (its attempt, max_attempts, expiry); both are rare.
//
// On FerretDB, whose updates are a read followed by a blind write, a
// heartbeat racing the completion of the same job could write it back as
// running. Both come from the process that holds the lease, so the store
// serializes its own heartbeats, completions and failures there.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"

namespace popqueue::store::mongodb {
namespace {

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

// Filter of a running job still held under `lease_token`.
Doc Held(JobId id, int64_t lease_token) {
  Doc f = ById(id);
  f.Str("state", "running").Int64("lease_token", lease_token);
  return f;
}

// Filter of the running jobs `ids` still held under `lease_token`. `lease`
// (the token as a string) is what FerretDB narrows by; MongoDB uses _id.
Doc HeldMany(const std::vector<JobId>& ids, int64_t lease_token) {
  Doc f;
  f.Str("lease", LeaseKey(lease_token))
      .Sub("_id", InInt64(ids))
      .Str("state", "running")
      .Int64("lease_token", lease_token);
  return f;
}

}  // namespace

absl::StatusOr<JobIdList> MongoStore::DoJobCompleteMany(const JobCompleteManyParams& params) {
  const std::vector<JobCompleteItem> items = DedupeById(params.items);
  if (items.empty()) return JobIdList();
  // Jobs of one claim (one lease token) with the same result change alike:
  // one update per group, found by the claim's `lease` (see mongodb_claim.cc).
  std::map<std::pair<int64_t, std::optional<std::string>>, std::vector<JobId>> groups;
  for (const JobCompleteItem& item : items) {
    groups[{item.lease_token, item.result}].push_back(item.id);
  }
  std::optional<MutexLock> lock;  // see ferretdb_
  if (ferretdb_) lock.emplace(&lease_writes_mu_);
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobIdList> {
    std::vector<UpdateOp> ops;
    for (const auto& [group, ids] : groups) {
      const auto& [token, result] = group;
      Doc set;
      set.Str("state", "completed").Time("finished_at", params.now).Bool("cancel_requested", false);
      Doc unset;
      unset.Str("lease_expires_at", "").Str("unique_key", "");
      if (result) {
        set.Str("result", *result);
      } else {
        unset.Str("result", "");
      }
      ops.push_back(
          UpdateOp{HeldMany(ids, token), std::move(Doc().Sub("$set", set).Sub("$unset", unset))});
    }
    // One round trip; the reply counts matches but does not name them.
    absl::StatusOr<int64_t> matched = jobs.BulkUpdateById(ops, "complete");
    if (!matched.ok()) return matched.status();
    JobIdList out;
    // Workflow parents: their dependants' step (mongodb_workflow.cc).
    auto release = [&](const JobIdList& done) -> absl::Status {
      for (const JobCompleteItem& item : items) {
        if (!item.has_dependants || std::find(done.begin(), done.end(), item.id) == done.end()) {
          continue;
        }
        if (absl::Status s = PropagateFinished(jobs, item.id, true, params.now); !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    };
    if (*matched == static_cast<int64_t>(items.size())) {
      for (const JobCompleteItem& item : items) out.push_back(item.id);
      if (absl::Status s = release(out); !s.ok()) return s;
      return out;
    }
    // Some leases were lost: ours are the jobs now completed at `now` under
    // our token (only the lease holder completes under it).
    std::set<JobId> ours;
    for (const auto& [group, ids] : groups) {
      const int64_t token = group.first;
      Doc filter;
      filter.Str("lease", LeaseKey(token)).Sub("_id", InInt64(ids));
      absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(
          filter,
          Doc().Sub("projection", Keys({{"state", 1}, {"lease_token", 1}, {"finished_at", 1}})),
          "complete: read back");
      if (!docs.ok()) return docs.status();
      for (const BsonPtr& doc : *docs) {
        const bson_t* d = doc.get();
        if (GetStr(d, "state").value_or("") == "completed" &&
            GetInt64(d, "lease_token").value_or(0) == token &&
            GetTime(d, "finished_at") == AsStored(params.now)) {
          ours.insert(GetInt64(d, "_id").value_or(0));
        }
      }
    }
    for (const JobCompleteItem& item : items) {
      if (ours.count(item.id)) out.push_back(item.id);
    }
    if (absl::Status s = release(out); !s.ok()) return s;
    return out;
  });
}

absl::StatusOr<JobIdList> MongoStore::DoJobFailMany(const JobFailManyParams& params) {
  const std::vector<JobFailItem> items = DedupeById(params.items);
  if (items.empty()) return JobIdList();

  std::optional<MutexLock> lock;  // see ferretdb_
  if (ferretdb_) lock.emplace(&lease_writes_mu_);
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobIdList> {
    JobIdList out;
    for (const JobFailItem& item : items) {
      // The attempt number, for the error entry; the change below is fenced
      // on it too, so the entry always names the attempt that failed.
      absl::StatusOr<std::vector<BsonPtr>> docs =
          jobs.Find(ById(item.id), Doc().Sub("projection", Keys({{"attempt", 1}, {"queue", 1}})),
                    "fail: read attempt");
      if (!docs.ok()) return docs.status();
      if (docs->empty()) continue;
      const int64_t attempt = GetInt64((*docs)[0].get(), "attempt").value_or(0);
      if (item.to == JobState::kScheduled) {
        // Snoozed by its handler: waiting again, the attempt given back, no
        // error entry.
        Doc set;
        set.Str("state", JobStateName(item.to))
            .Bool("cancel_requested", false)
            .Time("run_at", item.run_at)
            .Str("wait", GetStr((*docs)[0].get(), "queue").value_or(""))
            .Int32("attempt", static_cast<int32_t>(std::max<int64_t>(attempt - 1, 0)));
        Doc filter = Held(item.id, item.lease_token);
        filter.Int64("attempt", attempt);
        absl::StatusOr<BsonPtr> doc = jobs.FindAndModify(
            filter, nullptr,
            Doc()
                .Sub("$set", set)
                .Sub("$unset", Doc().Str("lease_expires_at", "").Str("finished_at", "")),
            /*upsert=*/false, "snooze");
        if (!doc.ok()) return doc.status();
        if (*doc != nullptr) out.push_back(item.id);
        continue;
      }
      Doc set;
      set.Str("state", JobStateName(item.to)).Bool("cancel_requested", false);
      Doc unset;
      unset.Str("lease_expires_at", "");
      if (item.to == JobState::kRetryable) {
        set.Time("run_at", item.run_at).Str("wait", GetStr((*docs)[0].get(), "queue").value_or(""));
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
          Doc().Sub("$set", set).Sub("$unset", unset).Sub("$push", Doc().Sub("errors", error)),
          /*upsert=*/false, "fail");
      if (!doc.ok()) return doc.status();
      if (*doc == nullptr) continue;
      out.push_back(item.id);
      if (item.has_dependants && item.to != JobState::kRetryable) {
        if (absl::Status s = PropagateFinished(jobs, item.id, false, params.now); !s.ok()) {
          return s;
        }
      }
    }
    return out;
  });
}

absl::StatusOr<JobHeartbeatManyResult> MongoStore::DoJobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  const std::vector<JobHeartbeatItem> items = DedupeById(params.items);
  if (items.empty()) return JobHeartbeatManyResult();
  // As stored: the read-back below compares it with what the server holds.
  const absl::Time expires = AsStored(params.now + params.lease);
  // As for completions: one update per (claim, progress, stop request), then
  // one read per claim for the answer (which leases held, which were asked
  // to cancel).
  using Stop = std::optional<std::tuple<std::string, int64_t, bool>>;
  std::map<std::tuple<int64_t, std::optional<int>, Stop>, std::vector<JobId>> groups;
  std::map<int64_t, std::vector<JobId>> by_token;
  for (const JobHeartbeatItem& item : items) {
    std::optional<int> progress;
    if (item.progress) progress = std::clamp(*item.progress, 0, 100);
    Stop stop;
    if (item.stopping) {
      stop.emplace(item.stopping->reason, absl::ToUnixMicros(item.stopping->since),
                   item.stopping->overdue);
    }
    groups[{item.lease_token, progress, stop}].push_back(item.id);
    by_token[item.lease_token].push_back(item.id);
  }
  std::optional<MutexLock> lock;  // see ferretdb_
  if (ferretdb_) lock.emplace(&lease_writes_mu_);
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobHeartbeatManyResult> {
    std::vector<UpdateOp> ops;
    for (const auto& [group, ids] : groups) {
      const auto& [token, progress, stop] = group;
      Doc set;
      set.Time("lease_expires_at", expires);
      if (progress) set.Int32("progress", *progress);
      if (stop) {
        set.Str("stop_reason", std::get<0>(*stop))
            .Time("stopping_since", absl::FromUnixMicros(std::get<1>(*stop)))
            .Bool("stop_overdue", std::get<2>(*stop));
      }
      ops.push_back(UpdateOp{HeldMany(ids, token), std::move(Doc().Sub("$set", set))});
    }
    absl::StatusOr<int64_t> matched = jobs.BulkUpdateById(ops, "heartbeat");
    if (!matched.ok()) return matched.status();
    std::set<JobId> extended, cancel;
    for (const auto& [token, ids] : by_token) {
      Doc filter;
      filter.Str("lease", LeaseKey(token)).Sub("_id", InInt64(ids));
      absl::StatusOr<std::vector<BsonPtr>> docs =
          jobs.Find(filter,
                    Doc().Sub("projection", Keys({{"state", 1},
                                                  {"lease_token", 1},
                                                  {"lease_expires_at", 1},
                                                  {"cancel_requested", 1}})),
                    "heartbeat: read back");
      if (!docs.ok()) return docs.status();
      for (const BsonPtr& doc : *docs) {
        const bson_t* d = doc.get();
        if (GetStr(d, "state").value_or("") != "running" ||
            GetInt64(d, "lease_token").value_or(0) != token ||
            GetTime(d, "lease_expires_at") != expires) {
          continue;
        }
        const JobId id = GetInt64(d, "_id").value_or(0);
        extended.insert(id);
        if (GetBool(d, "cancel_requested")) cancel.insert(id);
      }
    }
    JobHeartbeatManyResult out;
    for (const JobHeartbeatItem& item : items) {
      if (extended.count(item.id)) out.extended.push_back(item.id);
      if (cancel.count(item.id)) out.cancel_requested.push_back(item.id);
    }
    return out;
  });
}

absl::StatusOr<JobRescueExpiredResult> MongoStore::DoJobRescueExpired(
    const JobRescueExpiredParams& params) {
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobRescueExpiredResult> {
    Doc expired;
    expired.Str("state", "running").Sub("lease_expires_at", Doc().Time("$lt", params.now));
    absl::StatusOr<std::vector<BsonPtr>> docs =
        jobs.Find(expired,
                  Doc()
                      .Sub("sort", Keys({{"lease_expires_at", 1}}))
                      .Int64("limit", params.limit)
                      .Sub("projection", Keys({{"_id", 1},
                                               {"state", 1},
                                               {"queue", 1},
                                               {"attempt", 1},
                                               {"max_attempts", 1},
                                               {"cancel_requested", 1},
                                               {"worker_id", 1},
                                               {"lease_token", 1},
                                               {"lease_expires_at", 1}})),
                  "rescue: find expired");
    if (!docs.ok()) return docs.status();
    JobRescueExpiredResult moved;
    // A write that fails after others succeeded: those jobs are moved, so
    // they are reported (the contract); the next round retries the rest.
    auto failed = [&](const absl::Status& s) -> absl::StatusOr<JobRescueExpiredResult> {
      if (moved.empty()) return s;
      return moved;
    };
    for (const BsonPtr& d : *docs) {
      const bson_t* doc = d.get();
      // The filter below pins the lease as read; it must be one that has
      // expired (a server may return a document changed since its index
      // matched it, as in the claim).
      std::optional<absl::Time> expires = GetTime(doc, "lease_expires_at");
      if (GetStr(doc, "state").value_or("") != "running" || !expires || *expires >= params.now) {
        continue;
      }
      const int64_t attempt = GetInt64(doc, "attempt").value_or(0);
      const bool cancel = GetBool(doc, "cancel_requested");
      const bool retry = !cancel && attempt < GetInt64(doc, "max_attempts").value_or(0);
      const JobState to = cancel  ? JobState::kCancelled
                          : retry ? JobState::kRetryable
                                  : JobState::kDead;
      Doc set;
      set.Str("state", JobStateName(to)).Bool("cancel_requested", false);
      Doc unset;
      unset.Str("lease_expires_at", "");
      if (retry) {
        set.Time("run_at", params.now).Str("wait", GetStr(doc, "queue").value_or(""));
        unset.Str("finished_at", "");
      } else {
        set.Time("finished_at", params.now);
        unset.Str("unique_key", "");
      }
      Doc error;
      error.Int32("attempt", static_cast<int32_t>(attempt))
          .Int64("at", absl::ToUnixMillis(params.now))
          .Str("message",
               absl::StrFormat("lease expired (worker %s)", GetStr(doc, "worker_id").value_or("")));
      // Unchanged since it was read: same lease, not heartbeaten since.
      Doc filter = Held(GetInt64(doc, "_id").value_or(0), GetInt64(doc, "lease_token").value_or(0));
      filter.Int64("lease_expires_at", GetInt64(doc, "lease_expires_at").value_or(0));
      absl::StatusOr<BsonPtr> changed = jobs.FindAndModify(
          filter, nullptr,
          Doc().Sub("$set", set).Sub("$unset", unset).Sub("$push", Doc().Sub("errors", error)),
          /*upsert=*/false, "rescue");
      if (!changed.ok()) return failed(changed.status());
      if (*changed == nullptr) continue;
      moved.push_back(RescuedJob{.id = GetInt64(doc, "_id").value_or(0), .to = to});
      if (!retry && !GetStr(changed->get(), "dep").value_or("").empty()) {
        if (absl::Status s =
                PropagateFinished(jobs, GetInt64(doc, "_id").value_or(0), false, params.now);
            !s.ok()) {
          return failed(s);
        }
      }
    }
    return moved;
  });
}

}  // namespace popqueue::store::mongodb
