// The Redis store's reads and admin calls: get, list, counts, requeue,
// cancel, delete, cleanup, queues, leadership, the worker registry and cron
// fires. See redis_store.cc for the data layout.
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "store/redis/job_hash.h"
#include "store/redis/redis_store.h"
#include "store/validate.h"

namespace popqueue::store::redis_store {
namespace {

// The reply of job_requeue.lua / job_cancel.lua: {'ok', HGETALL} or a refusal.
absl::StatusOr<Job> AdminReply(const redis::Reply& r, JobId id,
                               std::string_view verb) {
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
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", std::string(verb), " job ", id, ": it is ", detail));
  }
  if (tag == "identifier") {
    absl::StatusOr<JobId> holder = ParseId(detail);
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", std::string(verb), " job ", id, ": job ",
        holder.ok() ? absl::StrCat(*holder) : detail,
        " holds the same identifier and is not finished"));
  }
  return absl::InternalError(absl::StrCat("unexpected reply \"", tag, "\" to ",
                                          std::string(verb)));
}

// "<state>|<queue>" -> count, from HGETALL T:counts.
absl::StatusOr<std::map<std::string, std::map<JobState, int64_t>>> ParseCounts(
    const redis::Reply& r) {
  std::map<std::string, std::map<JobState, int64_t>> out;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& field = r.elements[i].str;
    size_t bar = field.find('|');
    if (bar == std::string::npos) continue;
    absl::StatusOr<JobState> state = ParseJobState(field.substr(0, bar));
    absl::StatusOr<int64_t> n = r.elements[i + 1].AsInt();
    if (!state.ok() || !n.ok()) {
      return absl::InternalError(absl::StrCat("malformed count field \"", field, "\""));
    }
    if (*n != 0) out[field.substr(bar + 1)][*state] = *n;
  }
  return out;
}

}  // namespace

absl::StatusOr<Job> RedisStore::JobGet(const JobGetParams& params) {
  absl::StatusOr<redis::Reply> r =
      client_->Command({"HGETALL", Key("job", IdKey(params.id))});
  if (!r.ok()) return r.status();
  if (r->elements.empty()) {
    return absl::NotFoundError(absl::StrCat("job ", params.id, " not found"));
  }
  return JobFromHash(*r);
}

absl::StatusOr<Job> RedisStore::JobRequeue(const JobRequeueParams& params) {
  absl::StatusOr<redis::Reply> r = RunJobScript(
      scripts_.job_requeue, {Micros(params.now), IdKey(params.id)});
  if (!r.ok()) return r.status();
  return AdminReply(*r, params.id, "requeue");
}

absl::StatusOr<Job> RedisStore::JobCancel(const JobCancelParams& params) {
  absl::StatusOr<redis::Reply> r = RunJobScript(
      scripts_.job_cancel, {Micros(params.now), IdKey(params.id)});
  if (!r.ok()) return r.status();
  return AdminReply(*r, params.id, "cancel");
}

absl::Status RedisStore::JobDelete(const JobDeleteParams& params) {
  absl::StatusOr<redis::Reply> r =
      RunJobScript(scripts_.job_delete, {IdKey(params.id)});
  if (!r.ok()) return r.status();
  if (r->str == "notfound") {
    return absl::NotFoundError(absl::StrCat("job ", params.id, " not found"));
  }
  if (r->str == "running") {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", params.id, " is running; cancel it or wait for it to finish"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobPage> RedisStore::JobList(const JobListParams& params) {
  const JobFilter& f = params.filter;
  if (f.limit < 1 || f.limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("list limit must be 1..1000, got ", f.limit));
  }
  std::vector<std::string> args = {f.before_id ? IdKey(*f.before_id) : "",
                                   absl::StrCat(f.limit), f.identifier, f.queue,
                                   f.name};
  std::set<JobState> states(f.states.begin(), f.states.end());
  for (JobState s : states) args.push_back(std::string(JobStateName(s)));
  absl::StatusOr<redis::Reply> r = RunJobScript(scripts_.job_list, std::move(args));
  if (!r.ok()) return r.status();
  absl::StatusOr<std::vector<Job>> jobs = JobsFromReplies(*r);
  if (!jobs.ok()) return jobs.status();
  JobPage page;
  page.jobs = *std::move(jobs);
  if (static_cast<int>(page.jobs.size()) == f.limit) {
    page.next_before_id = page.jobs.back().id;
  }
  return page;
}

absl::StatusOr<std::vector<QueueCounts>> RedisStore::JobCountByState() {
  absl::StatusOr<redis::Reply> r = client_->Command({"HGETALL", Key("counts")});
  if (!r.ok()) return r.status();
  auto counts = ParseCounts(*r);
  if (!counts.ok()) return counts.status();
  std::vector<QueueCounts> out;
  for (auto& [queue, by_state] : *counts) {
    out.push_back({.queue = queue, .by_state = std::move(by_state)});
  }
  return out;
}

absl::StatusOr<int> RedisStore::JobDeleteFinishedBefore(
    const JobDeleteFinishedBeforeParams& params) {
  if (!IsFinal(params.state)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "only finished jobs can be cleaned up, not ",
        std::string(JobStateName(params.state))));
  }
  absl::StatusOr<redis::Reply> r = RunJobScript(
      scripts_.job_delete_finished_before,
      {std::string(JobStateName(params.state)), Micros(params.before),
       absl::StrCat(std::max(params.limit, 1))});
  if (!r.ok()) return r.status();
  return static_cast<int>(r->integer);
}

absl::Status RedisStore::QueuePause(const QueueNameParams& params) {
  absl::StatusOr<redis::Reply> r = client_->Command(
      {"HSET", Key("paused"), params.queue, Micros(params.now)});
  return r.status();
}

absl::Status RedisStore::QueueResume(const QueueNameParams& params) {
  // Resumed queues may have due jobs: wake the workers.
  return client_
      ->PipelineOrError({{"HDEL", Key("paused"), params.queue},
                         {"PUBLISH", Key("available"), params.queue}})
      .status();
}

absl::StatusOr<std::vector<QueueInfo>> RedisStore::QueueList() {
  absl::StatusOr<std::vector<redis::Reply>> r = client_->PipelineOrError(
      {{"HGETALL", Key("counts")}, {"HKEYS", Key("paused")}});
  if (!r.ok()) return r.status();
  auto counts = ParseCounts((*r)[0]);
  if (!counts.ok()) return counts.status();
  std::map<std::string, QueueInfo> queues;
  for (auto& [queue, by_state] : *counts) {
    queues[queue] = {.name = queue, .counts = std::move(by_state)};
  }
  for (const redis::Reply& q : (*r)[1].elements) {
    QueueInfo& info = queues[q.str];
    info.name = q.str;
    info.paused = true;
  }
  std::vector<QueueInfo> out;
  for (auto& [name, info] : queues) out.push_back(std::move(info));
  return out;
}

absl::StatusOr<bool> RedisStore::LeaderAttemptElect(
    const LeaderAttemptElectParams& params) {
  if (absl::Status s = ValidateLeaderElect(params); !s.ok()) return s;
  absl::StatusOr<redis::Reply> r = client_->Eval(
      scripts_.leader_attempt_elect, {Key("leader", params.name)},
      {params.leader_id, Micros(params.now), Micros(params.now + params.ttl)});
  if (!r.ok()) return r.status();
  return r->integer == 1;
}

absl::Status RedisStore::LeaderResign(const LeaderResignParams& params) {
  return client_
      ->Eval(scripts_.leader_resign, {Key("leader", params.name)},
             {params.leader_id})
      .status();
}

absl::Status RedisStore::WorkerRegister(const WorkerRegisterParams& params) {
  const WorkerInfo& w = params.worker;
  if (w.id.empty()) return absl::InvalidArgumentError("worker id is empty");
  return client_
      ->Eval(scripts_.worker_register, {Key("workers"), Key("worker", w.id)},
             {w.id, w.host, absl::StrCat(w.pid), nlohmann::json(w.queues).dump(),
              Micros(w.started_at), Micros(params.now)})
      .status();
}

absl::Status RedisStore::WorkerHeartbeat(const WorkerHeartbeatParams& params) {
  absl::StatusOr<redis::Reply> r = client_->Eval(
      scripts_.worker_heartbeat, {Key("workers"), Key("worker", params.worker_id)},
      {absl::StrCat(params.running), Micros(params.now)});
  if (!r.ok()) return r.status();
  if (r->integer != 1) {
    return absl::NotFoundError(absl::StrCat(
        "worker \"", params.worker_id, "\" is not registered (register it again)"));
  }
  return absl::OkStatus();
}

absl::Status RedisStore::WorkerDeregister(const WorkerDeregisterParams& params) {
  return client_
      ->Eval(scripts_.worker_deregister,
             {Key("workers"), Key("worker", params.worker_id)},
             {params.worker_id})
      .status();
}

absl::StatusOr<std::vector<WorkerInfo>> RedisStore::WorkerList(
    const WorkerListParams& params) {
  // Workers silent for a day are forgotten (crashed without deregistering).
  const absl::Duration keep = std::max(params.ttl, absl::Hours(24));
  absl::StatusOr<redis::Reply> r = client_->Eval(
      scripts_.worker_list, {Key("workers")},
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

absl::StatusOr<bool> RedisStore::CronFireOnce(const CronFireOnceParams& params) {
  if (absl::Status s = ValidateNewJob(params.job); !s.ok()) return s;
  std::vector<std::string> args = {Micros(params.now), Micros(params.fire_time),
                                   params.schedule};
  AppendNewJobArgs(params.job, &args);
  absl::StatusOr<redis::Reply> r =
      RunJobScript(scripts_.cron_fire_once, std::move(args));
  if (!r.ok()) return r.status();
  if (r->integer < 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "job id ", params.job.id, " is already taken; nothing was stored"));
  }
  return r->integer == 1;
}

}  // namespace popqueue::store::redis_store
