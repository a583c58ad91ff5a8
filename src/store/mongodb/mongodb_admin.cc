// The MongoDB store's reads and admin calls: single-job admin (get, requeue,
// cancel, delete), listing and counts, and queues (pause records).
//
// Single-job changes are one findAndModify whose filter names the states the
// change is allowed from; when it matches nothing, the job is read to tell
// NotFound from FailedPrecondition. A job that changed state in between is
// tried again (a few times), so the answer always reflects a real state.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"
#include "store/queue_list.h"

namespace popqueue::store::mongodb {
namespace {

constexpr int kAdminRounds = 5;

Doc Projection(std::initializer_list<const char*> fields) {
  Doc keys;
  for (const char* f : fields) keys.Int32(f, 1);
  return std::move(Doc().Sub("projection", keys));
}

// The id of another non-final job holding `job`'s identifier, 0 if none.
absl::StatusOr<JobId> IdentifierHolder(const Collection& jobs, const Job& job) {
  if (job.identifier.empty()) return 0;
  Doc other;
  other.Str("unique_key", job.identifier).Sub("_id", Doc().Int64("$ne", job.id));
  absl::StatusOr<std::vector<BsonPtr>> docs =
      jobs.Find(other, Projection({"_id"}), "requeue: find holder");
  if (!docs.ok()) return docs.status();
  if (docs->empty()) return 0;
  return GetInt64((*docs)[0].get(), "_id").value_or(0);
}

absl::Status HeldElsewhere(JobId id, JobId holder) {
  return absl::FailedPreconditionError(
      absl::StrFormat("job %d cannot be requeued: job %d with the same identifier is not "
                      "finished yet",
                      id, holder));
}

}  // namespace

absl::StatusOr<Job> MongoStore::GetJob(const Collection& jobs, JobId id) {
  absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(ById(id), Doc(), "get job");
  if (!docs.ok()) return docs.status();
  if (docs->empty()) {
    return absl::NotFoundError(absl::StrFormat("job %d not found", id));
  }
  return ReadJob((*docs)[0].get());
}

// --- Single-job admin -----------------------------------------------------

absl::StatusOr<Job> MongoStore::DoJobGet(const JobGetParams& params) {
  return With(jobs_, [&](const Collection& jobs) { return GetJob(jobs, params.id); });
}

absl::StatusOr<Job> MongoStore::DoJobRequeue(const JobRequeueParams& params) {
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<Job> {
    for (int round = 0; round < kAdminRounds; ++round) {
      absl::StatusOr<Job> current = GetJob(jobs, params.id);
      if (!current.ok()) return current.status();
      const JobState from = current->state;
      if (from == JobState::kScheduled || from == JobState::kAvailable ||
          from == JobState::kRunning) {
        return absl::FailedPreconditionError(
            absl::StrFormat("job %d is %s; only dead, cancelled, completed or retryable jobs "
                            "can be requeued",
                            params.id, JobStateName(from)));
      }
      Doc filter = ById(params.id);
      filter.Str("state", JobStateName(from));
      Doc set;
      set.Str("state", "available")
          .Int32("attempt", 0)
          .Time("run_at", params.now)
          .Int64("lease_token", 0)
          .Str("worker_id", "")
          .Bool("cancel_requested", false)
          .Int32("progress", 0)
          .Str("ready", ReadyKey(current->queue, current->priority));
      // Non-final again: it holds its identifier once more, which the
      // unique index refuses while another non-final job holds it.
      if (!current->identifier.empty()) set.Str("unique_key", current->identifier);
      Doc unset;
      unset.Str("finished_at", "").Str("lease_expires_at", "").Str("result", "").Str("wait", "");
      if (absl::Status s = RegisterLevels({{current->queue, current->priority}}); !s.ok()) {
        return s;
      }
      // Ask first: FerretDB reports the index violation of a findAndModify
      // as a generic error, not as a duplicate key.
      absl::StatusOr<JobId> holder = IdentifierHolder(jobs, *current);
      if (!holder.ok()) return holder.status();
      if (*holder != 0) return HeldElsewhere(params.id, *holder);
      absl::StatusOr<BsonPtr> doc =
          jobs.FindAndModify(filter, nullptr, Doc().Sub("$set", set).Sub("$unset", unset),
                             /*upsert=*/false, "requeue");
      if (!doc.ok() && !current->identifier.empty()) {
        // A racing enqueue took the identifier in between.
        holder = IdentifierHolder(jobs, *current);
        if (holder.ok() && *holder != 0) return HeldElsewhere(params.id, *holder);
      }
      if (!doc.ok()) return doc.status();
      if (*doc != nullptr) return ReadJob(doc->get());
      // The state changed since it was read: look again.
    }
    return absl::AbortedError(
        absl::StrFormat("job %d kept changing state; retry the requeue", params.id));
  });
}

absl::StatusOr<Job> MongoStore::DoJobCancel(const JobCancelParams& params) {
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<Job> {
    for (int round = 0; round < kAdminRounds; ++round) {
      // Not running: cancelled at once.
      Doc waiting = ById(params.id);
      waiting.Sub("state", InStr({StateStr(JobState::kScheduled), StateStr(JobState::kAvailable),
                                  StateStr(JobState::kRetryable)}));
      Doc now_cancelled;
      now_cancelled
          .Sub("$set", Doc()
                           .Str("state", "cancelled")
                           .Time("finished_at", params.now)
                           .Bool("cancel_requested", false))
          .Sub("$unset", Doc().Str("unique_key", "").Str("ready", "").Str("wait", ""));
      absl::StatusOr<BsonPtr> doc =
          jobs.FindAndModify(waiting, nullptr, now_cancelled, /*upsert=*/false, "cancel");
      if (!doc.ok()) return doc.status();
      if (*doc != nullptr) {
        absl::StatusOr<Job> job = ReadJob(doc->get());
        if (job.ok() && !job->dependants.empty()) {
          if (absl::Status s = PropagateFinished(jobs, job->id, false, params.now); !s.ok()) {
            return s;
          }
        }
        return job;
      }
      // Running: its worker is asked to stop and ends it cancelled.
      Doc running = ById(params.id);
      running.Str("state", "running");
      doc = jobs.FindAndModify(running, nullptr,
                               Doc().Sub("$set", Doc().Bool("cancel_requested", true)),
                               /*upsert=*/false, "cancel");
      if (!doc.ok()) return doc.status();
      if (*doc != nullptr) return ReadJob(doc->get());
      absl::StatusOr<Job> current = GetJob(jobs, params.id);
      if (!current.ok()) return current.status();
      if (IsFinal(current->state)) {
        return absl::FailedPreconditionError(
            absl::StrFormat("job %d is already %s", params.id, JobStateName(current->state)));
      }
    }
    return absl::AbortedError(
        absl::StrFormat("job %d kept changing state; retry the cancel", params.id));
  });
}

absl::Status MongoStore::DoJobDelete(const JobDeleteParams& params) {
  return With(jobs_, [&](const Collection& jobs) -> absl::Status {
    Doc filter = ById(params.id);
    filter.Sub("state", Doc().Str("$ne", "running"));
    absl::StatusOr<int64_t> deleted = jobs.DeleteOne(filter, "delete job");
    if (!deleted.ok()) return deleted.status();
    if (*deleted == 1) return ForgetClaims({params.id});
    absl::StatusOr<Job> current = GetJob(jobs, params.id);
    if (!current.ok()) return current.status();
    return absl::FailedPreconditionError(
        absl::StrFormat("job %d is %s; cancel it first", params.id, JobStateName(current->state)));
  });
}

absl::Status MongoStore::ForgetClaims(const std::vector<JobId>& ids) {
  return With(claims_, [&](const Collection& claims) -> absl::Status {
    return claims.DeleteMany(Doc().Sub("job_id", InInt64(ids)), "forget claim records").status();
  });
}

// --- Listing and counts ---------------------------------------------------

absl::StatusOr<JobPage> MongoStore::DoJobList(const JobListParams& params) {
  const JobFilter& f = params.filter;
  Doc filter;
  if (!f.states.empty()) {
    std::vector<std::string> states;
    for (JobState s : std::set<JobState>(f.states.begin(), f.states.end())) {
      states.push_back(StateStr(s));
    }
    filter.Sub("state", InStr(states));
  }
  if (!f.queue.empty()) filter.Str("queue", f.queue);
  if (!f.name.empty()) filter.Str("name", f.name);
  if (!f.identifier.empty()) filter.Str("identifier", f.identifier);
  if (f.before_id) filter.Sub("_id", Doc().Int64("$lt", *f.before_id));
  Doc opts;
  opts.Sub("sort", Doc().Int32("_id", -1)).Int64("limit", f.limit + 1);
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<JobPage> {
    absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(filter, opts, "list jobs");
    if (!docs.ok()) return docs.status();
    JobPage page;
    for (const BsonPtr& d : *docs) {
      if (page.jobs.size() == static_cast<size_t>(f.limit)) {
        page.next_before_id = page.jobs.back().id;
        break;
      }
      absl::StatusOr<Job> job = ReadJob(d.get());
      if (!job.ok()) return job.status();
      page.jobs.push_back(std::move(*job));
    }
    return page;
  });
}

absl::StatusOr<std::vector<QueueCounts>> MongoStore::DoJobCountByState() {
  Doc group;
  group.Sub("_id", Doc().Str("queue", "$queue").Str("state", "$state"))
      .Sub("n", Doc().Int32("$sum", 1));
  std::vector<Doc> stages;
  stages.push_back(std::move(Doc().Sub("$group", group)));
  Doc pipeline;
  pipeline.DocArray("pipeline", stages);
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<std::vector<QueueCounts>> {
    absl::StatusOr<std::vector<BsonPtr>> rows = jobs.Aggregate(pipeline, "count by state");
    if (!rows.ok()) return rows.status();
    std::map<std::string, std::map<JobState, int64_t>> by_queue;
    for (const BsonPtr& row : *rows) {
      bson_iter_t it, key;
      if (!bson_iter_init_find(&it, row.get(), "_id") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
          !bson_iter_recurse(&it, &key)) {
        return absl::InternalError("count by state: malformed group");
      }
      std::string queue, state_name;
      while (bson_iter_next(&key)) {
        std::string_view k = bson_iter_key(&key);
        if (k == "queue") queue = IterStr(&key);
        if (k == "state") state_name = IterStr(&key);
      }
      absl::StatusOr<JobState> state = ParseJobState(state_name);
      if (!state.ok()) {
        return absl::InternalError(absl::StrFormat("corrupt job document in queue %s: %s", queue,
                                                   std::string(state.status().message())));
      }
      auto [entry, fresh] = by_queue.try_emplace(queue, ZeroCounts());
      entry->second[*state] += GetInt64(row.get(), "n").value_or(0);
    }
    std::vector<QueueCounts> out;
    for (auto& [queue, counts] : by_queue) {
      out.push_back(QueueCounts{.queue = queue, .by_state = std::move(counts)});
    }
    return out;
  });
}

absl::StatusOr<int> MongoStore::DoJobDeleteFinishedBefore(
    const JobDeleteFinishedBeforeParams& params) {
  return With(jobs_, [&](const Collection& jobs) -> absl::StatusOr<int> {
    Doc old;
    old.Str("state", JobStateName(params.state))
        .Sub("finished_at", Doc().Time("$lt", params.before));
    absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(
        old, std::move(Projection({"_id"}).Int64("limit", params.limit)), "clean up: find");
    if (!docs.ok()) return docs.status();
    if (docs->empty()) return 0;
    std::vector<JobId> ids;
    for (const BsonPtr& d : *docs) ids.push_back(GetInt64(d.get(), "_id").value_or(0));
    Doc filter = IdIn(ids);
    filter.Str("state", JobStateName(params.state));
    absl::StatusOr<int64_t> deleted = jobs.DeleteMany(filter, "clean up");
    if (!deleted.ok()) return deleted.status();
    if (absl::Status s = ForgetClaims(ids); !s.ok()) return s;
    return static_cast<int>(*deleted);
  });
}

// --- Queues -----------------------------------------------------------------

absl::Status MongoStore::DoQueuePause(const QueueNameParams& params) {
  return With(queues_, [&](const Collection& queues) -> absl::Status {
    Doc record;
    record.Bool("paused", true).Time("updated_at", params.now);
    for (int round = 0;; ++round) {
      absl::StatusOr<UpdateResult> r = queues.ReplaceOne(Doc().Str("_id", params.queue), record,
                                                         /*upsert=*/true, "pause queue");
      // Two racing upserts: the loser's insert hits the _id; retry updates.
      if (absl::IsAlreadyExists(r.status()) && round < 2) continue;
      return r.status();
    }
  });
}

absl::Status MongoStore::DoQueueResume(const QueueNameParams& params) {
  return With(queues_, [&](const Collection& queues) -> absl::Status {
    return queues.DeleteOne(Doc().Str("_id", params.queue), "resume queue").status();
  });
}

// Per level a find sorted by an index and limited to one document: {ready:
// "queue|priority"} by (ready, run_at) for available jobs (levels listed in
// <collection>_levels), and a loose scan over the priorities of waiting
// jobs by (wait, priority, run_at). On MongoDB each is one index seek;
// FerretDB and mongo-java-server sort the matches in memory instead
// (docs/benchmarks.md).
absl::StatusOr<QueueOldestDueResult> MongoStore::DoQueueOldestDue(
    const QueueOldestDueParams& params) {
  Pool::Lease lease(pool_.get());
  Collection jobs(*pool_, lease, options_.database, jobs_);
  Collection levels(*pool_, lease, options_.database, levels_);
  absl::StatusOr<std::vector<BsonPtr>> level_docs =
      levels.Find(Doc().Sub("queue", InStr(params.queues)), Doc(), "oldest due: levels");
  if (!level_docs.ok()) return level_docs.status();
  std::map<std::string, std::set<int>> levels_of;
  for (const BsonPtr& d : *level_docs) {
    levels_of[GetStr(d.get(), "queue").value_or("")].insert(
        static_cast<int>(GetInt64(d.get(), "priority").value_or(0)));
  }
  const int64_t now = absl::ToUnixMicros(params.now);
  auto first = [&](const Doc& filter, const Doc& sort) -> absl::StatusOr<BsonPtr> {
    Doc opts;
    opts.Sub("sort", sort)
        .Sub("projection", Keys({{"run_at", 1}, {"priority", 1}}))
        .Int64("limit", 1);
    absl::StatusOr<std::vector<BsonPtr>> found = jobs.Find(filter, opts, "oldest due");
    if (!found.ok()) return found.status();
    if (found->empty()) return BsonPtr();
    return std::move((*found)[0]);
  };
  QueueOldestDueResult out;
  for (const std::string& queue : params.queues) {
    std::optional<int64_t> least;
    auto consider = [&](const BsonPtr& doc) {
      const int64_t run = GetInt64(doc.get(), "run_at").value_or(now + 1);
      if (run <= now && (!least || run < *least)) least = run;
    };
    for (int priority : levels_of[queue]) {
      absl::StatusOr<BsonPtr> doc =
          first(Doc().Str("ready", ReadyKey(queue, priority)), Keys({{"run_at", 1}, {"_id", 1}}));
      if (!doc.ok()) return doc.status();
      if (*doc) consider(*doc);
    }
    Doc waiting;
    waiting.Str("wait", queue);
    while (true) {
      absl::StatusOr<BsonPtr> doc = first(waiting, ClaimOrder());
      if (!doc.ok()) return doc.status();
      if (!*doc) break;
      consider(*doc);
      const int64_t priority = GetInt64(doc->get(), "priority").value_or(0);
      waiting = Doc();
      waiting.Str("wait", queue).Sub("priority", Doc().Int64("$gt", priority));
    }
    out.push_back(least ? std::optional<absl::Time>(absl::FromUnixMicros(*least)) : std::nullopt);
  }
  return out;
}

absl::StatusOr<std::vector<QueueInfo>> MongoStore::DoQueueList() {
  absl::StatusOr<std::vector<QueueCounts>> counts = JobCountByState();
  if (!counts.ok()) return counts.status();
  absl::StatusOr<std::vector<BsonPtr>> paused = With(queues_, [&](const Collection& queues) {
    return queues.Find(Doc().Bool("paused", true), Projection({"_id"}), "list paused queues");
  });
  if (!paused.ok()) return paused.status();
  std::vector<std::string> names;
  for (const BsonPtr& d : *paused) {
    names.push_back(GetStr(d.get(), "_id").value_or(""));
  }
  return MergeQueueList(*std::move(counts), names);
}

}  // namespace popqueue::store::mongodb
