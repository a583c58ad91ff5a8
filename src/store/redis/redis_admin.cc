// The Redis store's reads and admin calls: get, list, counts, requeue,
// cancel, delete, cleanup, queues, leadership and the worker registry. See
// redis_store.cc for the data layout. Calls by id find the job's queue in
// the directory (C:dir); calls over all queues read C:queues and run one
// script per slot group (all queues at once on a single node).
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "store/queue_list.h"
#include "store/redis/job_hash.h"
#include "store/redis/redis_store_impl.h"

namespace popqueue::store::redis_store {
namespace {

const std::string kNone;  // the verb of an empty script reply

// The reply of job_requeue.lua / job_cancel.lua: {'ok', HGETALL} or a refusal.
absl::StatusOr<Job> AdminReply(const redis::Reply& r, JobId id, std::string_view verb) {
  if (r.elements.empty()) {
    return absl::InternalError(absl::StrCat("empty reply to ", std::string(verb)));
  }
  const std::string& tag = r.elements[0].str;
  const std::string detail = r.elements.size() > 1 ? r.elements[1].str : "";
  if (tag == "ok" && r.elements.size() == 2) return JobFromHash(r.elements[1]);
  if (tag == "notfound") {
    return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  }
  if (tag == "state") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", std::string(verb), " job ", id, ": it is ", detail));
  }
  if (tag == "identifier") {
    absl::StatusOr<JobId> holder = ParseId(detail);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", std::string(verb), " job ", id, ": job ",
                     holder.ok() ? absl::StrCat(*holder) : detail,
                     " holds the same identifier and is not finished"));
  }
  return absl::InternalError(absl::StrCat("unexpected reply \"", tag, "\" to ", std::string(verb)));
}

// state -> count, from HGETALL Q:counts (zero counts left out).
absl::StatusOr<std::map<JobState, int64_t>> ParseCounts(const redis::Reply& r) {
  std::map<JobState, int64_t> out;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& field = r.elements[i].str;
    absl::StatusOr<JobState> state = ParseJobState(field);
    absl::StatusOr<int64_t> n = r.elements[i + 1].AsInt();
    if (!state.ok() || !n.ok()) {
      return absl::InternalError(absl::StrCat("malformed count field \"", field, "\""));
    }
    if (*n != 0) out[*state] = *n;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> RedisStore::TagOf(JobId id) {
  absl::StatusOr<std::optional<std::string>> tag = directory_.LookupUncached(id);
  if (!tag.ok()) return tag.status();
  if (!*tag) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return **tag;
}

absl::StatusOr<std::vector<std::string>> RedisStore::AllQueueTags() {
  absl::StatusOr<std::vector<std::string>> names = QueueNames();
  if (!names.ok()) return names.status();
  std::vector<std::string> tags;
  for (const std::string& q : *names) tags.push_back(QueueTag(q));
  return tags;
}

absl::StatusOr<Job> RedisStore::DoJobGet(const JobGetParams& params) {
  absl::StatusOr<std::string> tag = TagOf(params.id);
  if (!tag.ok()) return tag.status();
  absl::StatusOr<redis::Reply> r =
      client_->Command({"HGETALL", absl::StrCat(*tag, ":job:", IdKey(params.id))});
  if (!r.ok()) return r.status();
  if (r->elements.empty()) {
    return absl::NotFoundError(absl::StrCat("job ", params.id, " not found"));
  }
  return JobFromHash(*r);
}

absl::StatusOr<Job> RedisStore::DoJobRequeue(const JobRequeueParams& params) {
  absl::StatusOr<std::string> tag = TagOf(params.id);
  if (!tag.ok()) return tag.status();
  std::optional<std::string> token;  // of the reservation, once taken
  for (int round = 0; round < kMaxRounds; ++round) {
    absl::StatusOr<redis::Reply> r =
        Run(scripts_.job_requeue, *tag,
            {Micros(params.now), fused_ ? "1" : "0", *tag, IdKey(params.id), token.value_or("0")});
    if (!r.ok()) return r.status();
    const std::string& verb = r->elements.empty() ? kNone : r->elements[0].str;
    if (verb == "reserve" && r->elements.size() == 2) {
      absl::StatusOr<std::string> t = ReserveFor(r->elements[1].str, params.id, *tag);
      if (!t.ok()) return t.status();
      token = *t;
    } else if (verb == "revoked") {
      token.reset();  // another enqueue took the identifier over meanwhile
    } else {
      return AdminReply(*r, params.id, "requeue");
    }
  }
  return absl::AbortedError(absl::StrCat("the identifier of job ", params.id, " changed hands ",
                                         kMaxRounds,
                                         " times while it was being requeued; try again"));
}

absl::StatusOr<Job> RedisStore::DoJobCancel(const JobCancelParams& params) {
  absl::StatusOr<std::string> tag = TagOf(params.id);
  if (!tag.ok()) return tag.status();
  absl::StatusOr<redis::Reply> r =
      Run(scripts_.job_cancel, *tag, {Micros(params.now), *tag, IdKey(params.id)});
  if (!r.ok()) return r.status();
  return AdminReply(*r, params.id, "cancel");
}

absl::Status RedisStore::DoJobDelete(const JobDeleteParams& params) {
  absl::StatusOr<std::string> tag = TagOf(params.id);
  if (!tag.ok()) return tag.status();
  absl::StatusOr<redis::Reply> r =
      Run(scripts_.job_delete, *tag, {fused_ ? "1" : "0", *tag, IdKey(params.id)});
  if (!r.ok()) return r.status();
  const std::string& verb = r->elements.empty() ? kNone : r->elements[0].str;
  if (verb == "notfound") {
    return absl::NotFoundError(absl::StrCat("job ", params.id, " not found"));
  }
  if (verb == "running") {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", params.id, " is running; cancel it or wait for it to finish"));
  }
  if (verb != "ok" || r->elements.size() != 2) {
    return absl::InternalError("job_delete.lua returned a bad reply");
  }
  directory_.Forget({params.id});
  // The job is gone; a directory entry left by a failure here resolves to
  // "not found", and its reservation is stale (see redis_insert.cc).
  if (!fused_) return ForgetJobs({{IdKey(params.id), r->elements[1].str}});
  return absl::OkStatus();
}

absl::StatusOr<JobPage> RedisStore::DoJobList(const JobListParams& params) {
  const JobFilter& f = params.filter;
  std::vector<std::string> tags;
  if (!f.queue.empty()) {
    tags.push_back(QueueTag(f.queue));
  } else {
    absl::StatusOr<std::vector<std::string>> all = AllQueueTags();
    if (!all.ok()) return all.status();
    tags = *std::move(all);
  }
  std::set<JobState> states(f.states.begin(), f.states.end());
  std::vector<std::string> head = {f.before_id ? IdKey(*f.before_id) : "", absl::StrCat(f.limit),
                                   f.identifier, f.name, absl::StrCat(states.size())};
  for (JobState s : states) head.push_back(std::string(JobStateName(s)));
  JobPage page;
  for (const std::vector<size_t>& group : Groups(tags)) {
    std::vector<std::string> args = head;
    for (size_t i : group) args.push_back(tags[i]);
    absl::StatusOr<redis::Reply> r = Run(scripts_.job_list, tags[group[0]], std::move(args));
    if (!r.ok()) return r.status();
    absl::StatusOr<std::vector<Job>> jobs = JobsFromReplies(*r);
    if (!jobs.ok()) return jobs.status();
    for (Job& job : *jobs) page.jobs.push_back(std::move(job));
  }
  // Each slot's page is its newest `limit`: the merged page is theirs.
  std::sort(page.jobs.begin(), page.jobs.end(),
            [](const Job& a, const Job& b) { return a.id > b.id; });
  if (static_cast<int>(page.jobs.size()) > f.limit) page.jobs.resize(f.limit);
  if (static_cast<int>(page.jobs.size()) == f.limit) {
    page.next_before_id = page.jobs.back().id;
  }
  return page;
}

absl::StatusOr<std::vector<QueueInfo>> RedisStore::QueueStats() {
  absl::StatusOr<std::vector<std::string>> names = QueueNames();
  if (!names.ok()) return names.status();
  std::vector<std::string> tags;
  for (const std::string& q : *names) tags.push_back(QueueTag(q));
  std::vector<QueueInfo> out(names->size());
  for (const std::vector<size_t>& group : Groups(tags)) {
    std::vector<std::string> args;
    for (size_t i : group) args.push_back(tags[i]);
    absl::StatusOr<redis::Reply> r = Run(scripts_.queue_stats, tags[group[0]], std::move(args));
    if (!r.ok()) return r.status();
    if (r->elements.size() != 2 * group.size()) {
      return absl::InternalError("queue_stats.lua returned a short reply");
    }
    for (size_t g = 0; g < group.size(); ++g) {
      QueueInfo& info = out[group[g]];
      info.name = (*names)[group[g]];
      absl::StatusOr<std::map<JobState, int64_t>> counts = ParseCounts(r->elements[2 * g]);
      if (!counts.ok()) return counts.status();
      info.counts = *std::move(counts);
      info.paused = r->elements[2 * g + 1].integer == 1;
    }
  }
  return out;
}

absl::StatusOr<std::vector<QueueCounts>> RedisStore::DoJobCountByState() {
  absl::StatusOr<std::vector<QueueInfo>> stats = QueueStats();
  if (!stats.ok()) return stats.status();
  std::vector<QueueCounts> out;
  for (QueueInfo& q : *stats) {
    if (!q.counts.empty()) {
      out.push_back({.queue = q.name, .by_state = std::move(q.counts)});
    }
  }
  return out;
}

absl::StatusOr<std::vector<QueueInfo>> RedisStore::DoQueueList() {
  absl::StatusOr<std::vector<QueueInfo>> stats = QueueStats();
  if (!stats.ok()) return stats.status();
  std::vector<QueueCounts> counts;
  std::vector<std::string> paused;
  for (QueueInfo& q : *stats) {
    if (!q.counts.empty()) {
      counts.push_back({.queue = q.name, .by_state = std::move(q.counts)});
    }
    if (q.paused) paused.push_back(q.name);
  }
  return MergeQueueList(std::move(counts), paused);
}

absl::StatusOr<QueueOldestDueResult> RedisStore::DoQueueOldestDue(
    const QueueOldestDueParams& params) {
  std::vector<std::string> tags;
  for (const std::string& q : params.queues) tags.push_back(QueueTag(q));
  QueueOldestDueResult out(params.queues.size());
  for (const std::vector<size_t>& group : Groups(tags)) {
    std::vector<std::string> args = {Micros(params.now)};
    for (size_t i : group) args.push_back(tags[i]);
    absl::StatusOr<redis::Reply> r =
        Run(scripts_.queue_oldest_due, tags[group[0]], std::move(args));
    if (!r.ok()) return r.status();
    if (r->elements.size() != group.size()) {
      return absl::InternalError("queue_oldest_due.lua returned a short reply");
    }
    for (size_t g = 0; g < group.size(); ++g) {
      const std::string& text = r->elements[g].str;
      if (text.empty()) continue;
      absl::StatusOr<absl::Time> at = ParseMicros(text);
      if (!at.ok()) return absl::InternalError("queue_oldest_due.lua returned a bad time");
      out[group[g]] = *at;
    }
  }
  return out;
}

absl::StatusOr<int> RedisStore::DoJobDeleteFinishedBefore(
    const JobDeleteFinishedBeforeParams& params) {
  absl::StatusOr<std::vector<std::string>> tags = AllQueueTags();
  if (!tags.ok()) return tags.status();
  int left = params.limit, deleted = 0;
  for (const std::vector<size_t>& group : Groups(*tags)) {
    if (left <= 0) break;
    std::vector<std::string> args = {fused_ ? "1" : "0", std::string(JobStateName(params.state)),
                                     Micros(params.before), absl::StrCat(left)};
    for (size_t i : group) args.push_back((*tags)[i]);
    absl::StatusOr<redis::Reply> r =
        Run(scripts_.job_delete_finished_before, (*tags)[group[0]], std::move(args));
    if (!r.ok()) return r.status();
    if (r->elements.empty()) {
      return absl::InternalError("job_delete_finished_before.lua returned a bad reply");
    }
    const int n = static_cast<int>(r->elements[0].integer);
    std::vector<std::pair<std::string, std::string>> gone;
    std::vector<JobId> ids;
    for (size_t i = 1; i + 1 < r->elements.size(); i += 2) {
      gone.emplace_back(r->elements[i].str, r->elements[i + 1].str);
      if (absl::StatusOr<JobId> id = ParseId(r->elements[i].str); id.ok()) {
        ids.push_back(*id);
      }
    }
    directory_.Forget(ids);
    if (!fused_) {
      if (absl::Status s = ForgetJobs(gone); !s.ok()) return s;
    }
    deleted += n;
    left -= n;
  }
  return deleted;
}

absl::Status RedisStore::DoQueuePause(const QueueNameParams& params) {
  // Registered first, so that QueueList sees the paused queue.
  const std::vector<std::string> name = {params.queue};
  if (!Unregistered(name).empty()) {
    absl::StatusOr<redis::Reply> r = client_->Command({"SADD", Key("queues"), params.queue});
    if (!r.ok()) return r.status();
    MarkRegistered(name);
  }
  return client_
      ->Command({"SET", absl::StrCat(QueueTag(params.queue), ":paused"), Micros(params.now)})
      .status();
}

absl::Status RedisStore::DoQueueResume(const QueueNameParams& params) {
  // Resumed queues may have due jobs: wake the workers.
  return client_
      ->PipelineOrError({{"DEL", absl::StrCat(QueueTag(params.queue), ":paused")},
                         {"PUBLISH", Key("available"), params.queue}})
      .status();
}

absl::StatusOr<bool> RedisStore::DoLeaderAttemptElect(const LeaderAttemptElectParams& params) {
  absl::StatusOr<redis::Reply> r =
      client_->Eval(scripts_.leader_attempt_elect, {Key("leader", params.name)},
                    {params.leader_id, Micros(params.now), Micros(params.now + params.ttl)});
  if (!r.ok()) return r.status();
  return r->integer == 1;
}

absl::Status RedisStore::DoLeaderResign(const LeaderResignParams& params) {
  return client_->Eval(scripts_.leader_resign, {Key("leader", params.name)}, {params.leader_id})
      .status();
}

absl::Status RedisStore::DoWorkerRegister(const WorkerRegisterParams& params) {
  const WorkerInfo& w = params.worker;

  return client_
      ->Eval(scripts_.worker_register, {Key("workers"), Key("worker", w.id)},
             {w.id, w.host, absl::StrCat(w.pid), nlohmann::json(w.queues).dump(),
              Micros(w.started_at), Micros(params.now), w.address})
      .status();
}

absl::Status RedisStore::DoWorkerHeartbeat(const WorkerHeartbeatParams& params) {
  absl::StatusOr<redis::Reply> r =
      client_->Eval(scripts_.worker_heartbeat, {Key("workers"), Key("worker", params.worker_id)},
                    {absl::StrCat(params.running), Micros(params.now)});
  if (!r.ok()) return r.status();
  if (r->integer != 1) {
    return absl::NotFoundError(
        absl::StrCat("worker \"", params.worker_id, "\" is not registered (register it again)"));
  }
  return absl::OkStatus();
}

absl::Status RedisStore::DoWorkerDeregister(const WorkerDeregisterParams& params) {
  return client_
      ->Eval(scripts_.worker_deregister, {Key("workers"), Key("worker", params.worker_id)},
             {params.worker_id})
      .status();
}

absl::StatusOr<std::vector<WorkerInfo>> RedisStore::DoWorkerList(const WorkerListParams& params) {
  // Workers silent for a day are forgotten (crashed without deregistering).
  const absl::Duration keep = std::max(params.ttl, absl::Hours(24));
  absl::StatusOr<redis::Reply> r =
      client_->Eval(scripts_.worker_list, {Key("workers")},
                    {tag_, Micros(params.now - params.ttl), Micros(params.now - keep)});
  if (!r.ok()) return r.status();
  std::vector<WorkerInfo> out;
  for (const redis::Reply& hash : r->elements) {
    absl::StatusOr<WorkerInfo> w = WorkerFromHash(hash);
    if (!w.ok()) return w.status();
    out.push_back(*std::move(w));
  }
  std::sort(out.begin(), out.end(),
            [](const WorkerInfo& a, const WorkerInfo& b) { return a.id < b.id; });
  return out;
}

}  // namespace popqueue::store::redis_store
