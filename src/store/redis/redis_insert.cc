// Inserting into the Redis store: JobInsertMany and CronFireOnce, and the
// identifier reservations they (and JobRequeue) take. See the essay of
// redis_store.cc for why an insert on a cluster is two steps and how a
// reservation left by a client that died between them is resolved.
//
// On a single node an insert is one script (job_insert_many.lua, fused).
// On a cluster it runs in rounds, each:
//   1. job_reserve.lua (collection slot): ids checked against C:dir and
//      recorded there, queues registered, identifiers reserved; jobs whose
//      identifier is held come back with the holder's entry.
//   2. job_uniq_check.lua (holders' slots): a live holder is the answer
//      (inserted = false); a stale one is revoked and its entry taken over
//      (job_uniq_take.lua); a missing one is waited for, then revoked.
//   3. job_insert_many.lua (per slot): the jobs that hold their
//      reservation. A job whose token was revoked meanwhile goes to the
//      next round, as does one that lost a take-over race.
#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/redis/job_hash.h"
#include "store/redis/keys.h"
#include "store/redis/redis_store_impl.h"

namespace popqueue::store::redis_store {

// The state of one job of an insert on a cluster.
struct RedisStore::Pending {
  std::string tag;                      // its queue's
  std::string id;                       // IdKey
  std::optional<std::string> token;     // holds a reservation: insert it
  std::optional<EnqueueResult> result;  // decided
  int dup_of = -1;                      // an earlier job of the batch holds its identifier
  bool in_dir = false;                  // C:dir names it (to forget if it is not stored)
};

namespace {

std::string Str(const redis::Reply& r) {
  return r.type == redis::Reply::Type::kInteger ? absl::StrCat(r.integer) : r.str;
}

absl::StatusOr<EnqueueResult> ResultOf(const std::string& id, bool inserted,
                                       const std::string& state) {
  absl::StatusOr<JobId> parsed = ParseId(id);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<JobState> s = ParseJobState(state);
  if (!s.ok()) {
    return absl::InternalError(absl::StrCat("bad job state \"", state, "\" in Redis"));
  }
  return EnqueueResult{.id = *parsed, .inserted = inserted, .state = *s};
}

}  // namespace

absl::StatusOr<JobInsertManyResult> RedisStore::DoJobInsertMany(const JobInsertManyParams& params) {
  return fused_ ? InsertFused(params) : InsertSplit(params);
}

absl::StatusOr<JobInsertManyResult> RedisStore::InsertFused(const JobInsertManyParams& params) {
  std::vector<std::string> queues;
  for (const NewJob& job : params.jobs) queues.push_back(job.queue);
  const std::vector<std::string> unregistered = Unregistered(queues);
  std::vector<std::string> args = {Micros(params.now), "1", absl::StrCat(unregistered.size())};
  args.insert(args.end(), unregistered.begin(), unregistered.end());
  args.reserve(args.size() + params.jobs.size() * 12);
  std::string first_tag;
  for (const NewJob& job : params.jobs) {
    args.push_back(QueueTag(job.queue));
    if (first_tag.empty()) first_tag = args.back();
    args.push_back(job.queue);
    AppendNewJobArgs(job, "0", &args);
  }
  absl::StatusOr<redis::Reply> r = Run(scripts_.job_insert_many, first_tag, std::move(args));
  if (!r.ok()) return r.status();
  const auto& e = r->elements;
  if (!e.empty() && e[0].str == "exists") {
    return absl::AlreadyExistsError(
        absl::StrCat("job id ", e.size() > 1 ? e[1].str : "?",
                     " is already taken; nothing of the batch was stored"));
  }
  if (e.size() != 1 + 3 * params.jobs.size()) {
    return absl::InternalError("job_insert_many.lua returned a short reply");
  }
  MarkRegistered(unregistered);
  JobInsertManyResult out;
  for (size_t i = 1; i < e.size(); i += 3) {
    absl::StatusOr<EnqueueResult> one = ResultOf(e[i].str, e[i + 1].integer == 1, e[i + 2].str);
    if (!one.ok()) return one.status();
    out.push_back(*one);
  }
  return out;
}

absl::Status RedisStore::ReserveRound(const std::vector<NewJob>& jobs,
                                      const std::vector<size_t>& todo, bool retry,
                                      std::vector<Pending>* pending, std::vector<size_t>* again) {
  std::vector<Pending>& p = *pending;
  std::unordered_map<std::string, size_t> in_batch;
  for (size_t i = 0; i < p.size(); ++i) in_batch.emplace(p[i].id, i);

  std::vector<std::string> queues;
  for (size_t i : todo) queues.push_back(jobs[i].queue);
  const std::vector<std::string> unregistered =
      retry ? std::vector<std::string>{} : Unregistered(queues);
  std::vector<std::string> args = {retry ? "1" : "0", absl::StrCat(unregistered.size())};
  args.insert(args.end(), unregistered.begin(), unregistered.end());
  for (size_t i : todo) {
    args.push_back(p[i].id);
    args.push_back(p[i].tag);
    args.push_back(jobs[i].identifier);
  }
  absl::StatusOr<redis::Reply> r = Run(scripts_.job_reserve, tag_, std::move(args));
  if (!r.ok()) return r.status();
  const auto& e = r->elements;
  if (!e.empty() && e[0].str == "exists") {
    return absl::AlreadyExistsError(
        absl::StrCat("job id ", e.size() > 1 ? e[1].str : "?", " is already taken; ",
                     retry ? "jobs of the batch in other queues may have been stored"
                           : "nothing of the batch was stored"));
  }
  if (e.size() != 1 + 2 * todo.size()) {
    return absl::InternalError("job_reserve.lua returned a short reply");
  }
  MarkRegistered(unregistered);

  // Held identifiers: the holder decides.
  std::vector<size_t> held_jobs;
  std::vector<Reservation> held;
  for (size_t k = 0; k < todo.size(); ++k) {
    const size_t i = todo[k];
    if (e[1 + 2 * k].str == "ok") {
      p[i].in_dir = true;
      p[i].token = Str(e[2 + 2 * k]);
      continue;
    }
    absl::StatusOr<Reservation> res = ParseReservation(e[2 + 2 * k].str);
    if (!res.ok()) return res.status();
    if (auto it = in_batch.find(res->id); it != in_batch.end() && it->second != i) {
      p[i].dup_of = static_cast<int>(it->second);
      continue;
    }
    held_jobs.push_back(i);
    held.push_back(*std::move(res));
  }
  if (held.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<Holder>> holders = CheckHolders(held);
  if (!holders.ok()) return holders.status();
  std::vector<size_t> take_jobs;
  std::vector<TakeItem> takes;
  for (size_t k = 0; k < held.size(); ++k) {
    const size_t i = held_jobs[k];
    if ((*holders)[k].live) {
      absl::StatusOr<EnqueueResult> one = ResultOf(held[k].id, false, (*holders)[k].state);
      if (!one.ok()) return one.status();
      p[i].result = *one;
    } else {
      take_jobs.push_back(i);
      takes.push_back({.identifier = jobs[i].identifier,
                       .expected = held[k].raw,
                       .id = p[i].id,
                       .tag = p[i].tag});
    }
  }
  if (takes.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<Taken>> taken = TakeReservations(takes);
  if (!taken.ok()) return taken.status();
  for (size_t k = 0; k < takes.size(); ++k) {
    const size_t i = take_jobs[k];
    if ((*taken)[k].ok) {
      p[i].in_dir = true;
      p[i].token = (*taken)[k].token;
    } else {
      again->push_back(i);  // another contender won: see who holds it now
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<JobInsertManyResult> RedisStore::InsertSplit(const JobInsertManyParams& params) {
  const std::vector<NewJob>& jobs = params.jobs;
  std::vector<Pending> p(jobs.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < jobs.size(); ++i) {
    p[i].tag = QueueTag(jobs[i].queue);
    p[i].id = IdKey(jobs[i].id);
    todo.push_back(i);
  }
  for (int round = 0; !todo.empty(); ++round) {
    if (round == kMaxRounds) {
      return absl::AbortedError(absl::StrCat(
          "the identifier \"", jobs[todo[0]].identifier, "\" of job ", jobs[todo[0]].id,
          " changed hands ", kMaxRounds, " times while it was being enqueued; enqueue it again"));
    }
    std::vector<size_t> again;
    if (absl::Status s = ReserveRound(jobs, todo, round > 0, &p, &again); !s.ok()) {
      return s;
    }
    // Insert the jobs that hold their reservation, per slot.
    std::vector<size_t> ready;
    std::vector<std::string> ready_tags;
    for (size_t i : todo) {
      if (p[i].token && !p[i].result) {
        ready.push_back(i);
        ready_tags.push_back(p[i].tag);
      }
    }
    for (const std::vector<size_t>& group : Groups(ready_tags)) {
      std::vector<std::string> args = {Micros(params.now), "0", "0"};
      for (size_t g : group) {
        const size_t i = ready[g];
        args.push_back(p[i].tag);
        args.push_back(jobs[i].queue);
        AppendNewJobArgs(jobs[i], *p[i].token, &args);
      }
      absl::StatusOr<redis::Reply> r =
          Run(scripts_.job_insert_many, ready_tags[group[0]], std::move(args));
      if (!r.ok()) return r.status();
      const auto& e = r->elements;
      if (!e.empty() && e[0].str == "exists") {
        return absl::AlreadyExistsError(
            absl::StrCat("job id ", e.size() > 1 ? e[1].str : "?",
                         " is already taken; jobs of the batch in other queues may have "
                         "been stored"));
      }
      if (e.size() != 1 + 3 * group.size()) {
        return absl::InternalError("job_insert_many.lua returned a short reply");
      }
      for (size_t g = 0; g < group.size(); ++g) {
        const size_t i = ready[group[g]];
        p[i].token.reset();
        if (e[2 + 3 * g].integer != 1) {  // revoked: reserve again
          again.push_back(i);
          continue;
        }
        absl::StatusOr<EnqueueResult> one = ResultOf(p[i].id, true, e[3 + 3 * g].str);
        if (!one.ok()) return one.status();
        p[i].result = *one;
      }
    }
    todo = std::move(again);
  }
  JobInsertManyResult out;
  std::vector<std::pair<std::string, std::string>> unused;
  for (size_t i = 0; i < jobs.size(); ++i) {
    size_t j = i;
    while (!p[j].result && p[j].dup_of >= 0) j = static_cast<size_t>(p[j].dup_of);
    if (!p[j].result) return absl::InternalError("an insert left a job undecided");
    EnqueueResult r = *p[j].result;
    if (j != i) r.inserted = false;
    if (p[i].in_dir && !(r.inserted && r.id == jobs[i].id)) {
      unused.emplace_back(p[i].id, jobs[i].identifier);
    }
    out.push_back(r);
  }
  // Directory entries of jobs that ended up not stored: without them the
  // entries still resolve to "not found", so a failure here is harmless.
  if (!unused.empty()) (void)ForgetJobs(unused);
  return out;
}

absl::StatusOr<bool> RedisStore::DoCronFireOnce(const CronFireOnceParams& params) {
  if (!fused_) return CronFireSplit(params);
  const std::string tag = QueueTag(params.job.queue);
  std::vector<std::string> args = {Micros(params.now), "1", Micros(params.fire_time),
                                   params.schedule,    tag, params.job.queue};
  AppendNewJobArgs(params.job, "0", &args);
  absl::StatusOr<redis::Reply> r = Run(scripts_.cron_fire_once, tag, std::move(args));
  if (!r.ok()) return r.status();
  if (r->integer == -1) {
    return absl::AlreadyExistsError(
        absl::StrCat("job id ", params.job.id, " is already taken; nothing was stored"));
  }
  MarkRegistered({params.job.queue});
  return r->integer == 1;
}

absl::StatusOr<bool> RedisStore::CronFireSplit(const CronFireOnceParams& params) {
  const NewJob& job = params.job;
  const std::string tag = QueueTag(job.queue);
  // Most calls are for a fire another process already enqueued.
  absl::StatusOr<redis::Reply> fired = client_->Command(
      {"ZSCORE", absl::StrCat(tag, ":cron:", params.schedule), Micros(params.fire_time)});
  if (!fired.ok()) return fired.status();
  if (!fired->is_nil()) return false;
  std::vector<Pending> p(1);
  p[0].tag = tag;
  p[0].id = IdKey(job.id);
  for (int round = 0; round < kMaxRounds; ++round) {
    std::vector<size_t> again;
    if (absl::Status s = ReserveRound({job}, {0}, round > 0, &p, &again); !s.ok()) {
      return s;
    }
    if (p[0].result) return false;  // a live job holds the identifier
    if (!p[0].token) continue;
    std::vector<std::string> args = {Micros(params.now), "0", Micros(params.fire_time),
                                     params.schedule,    tag, job.queue};
    AppendNewJobArgs(job, *p[0].token, &args);
    p[0].token.reset();
    absl::StatusOr<redis::Reply> r = Run(scripts_.cron_fire_once, tag, std::move(args));
    if (!r.ok()) return r.status();
    if (r->integer == -2) continue;  // the reservation was revoked: again
    if (r->integer == -1) {
      return absl::AlreadyExistsError(
          absl::StrCat("job id ", job.id, " is already taken; nothing was stored"));
    }
    if (r->integer == 0) {
      (void)ForgetJobs({{p[0].id, job.identifier}});  // another process fired
    }
    return r->integer == 1;
  }
  return absl::AbortedError(absl::StrCat("the identifier \"", job.identifier, "\" of cron job ",
                                         job.id, " changed hands ", kMaxRounds,
                                         " times while it was being enqueued"));
}

absl::StatusOr<RedisStore::Reservation> RedisStore::ParseReservation(std::string raw) {
  // "<19-digit id>|<token>|<Q>"
  const size_t bar = raw.size() > 20 ? raw.find('|', 20) : std::string::npos;
  if (raw.size() < 21 || raw[19] != '|' || bar == std::string::npos) {
    return absl::InternalError(
        absl::StrCat("malformed identifier reservation in Redis: \"", raw.substr(0, 64), "\""));
  }
  Reservation r;
  r.id = raw.substr(0, 19);
  r.token = raw.substr(20, bar - 20);
  r.tag = raw.substr(bar + 1);
  r.raw = std::move(raw);
  return r;
}

absl::StatusOr<std::vector<RedisStore::Holder>> RedisStore::CheckHolders(
    const std::vector<Reservation>& held) {
  std::vector<Holder> out(held.size());
  std::vector<size_t> pending;
  for (size_t i = 0; i < held.size(); ++i) pending.push_back(i);
  const absl::Time give_up = absl::Now() + kInsertGrace;
  absl::Duration pause = absl::Milliseconds(1);
  bool revoke = false;
  while (!pending.empty()) {
    std::vector<std::string> tags;
    for (size_t i : pending) tags.push_back(held[i].tag);
    std::vector<size_t> missing;
    for (const std::vector<size_t>& group : Groups(tags)) {
      std::vector<std::string> args = {revoke ? "1" : "0"};
      for (size_t g : group) {
        const Reservation& h = held[pending[g]];
        args.push_back(h.tag);
        args.push_back(h.id);
        args.push_back(h.token);
      }
      absl::StatusOr<redis::Reply> r =
          Run(scripts_.job_uniq_check, tags[group[0]], std::move(args));
      if (!r.ok()) return r.status();
      if (r->elements.size() != 2 * group.size()) {
        return absl::InternalError("job_uniq_check.lua returned a short reply");
      }
      for (size_t g = 0; g < group.size(); ++g) {
        const std::string& verdict = r->elements[2 * g].str;
        if (verdict == "live") {
          out[pending[g]] = {.live = true, .state = r->elements[2 * g + 1].str};
        } else if (verdict == "missing" && !revoke) {
          missing.push_back(pending[g]);
        }
      }
    }
    pending = std::move(missing);
    if (pending.empty()) break;
    // A holder that does not exist yet may be an insert on its way; one
    // that still does not after kInsertGrace is revoked on the next pass.
    if (absl::Now() >= give_up) {
      revoke = true;
    } else {
      absl::SleepFor(pause);
      pause = std::min(pause * 2, absl::Milliseconds(50));
    }
  }
  return out;
}

absl::StatusOr<std::vector<RedisStore::Taken>> RedisStore::TakeReservations(
    const std::vector<TakeItem>& items) {
  std::vector<std::string> args;
  for (const TakeItem& t : items) {
    args.push_back(t.identifier);
    args.push_back(t.expected);
    args.push_back(t.id);
    args.push_back(t.tag);
  }
  absl::StatusOr<redis::Reply> r = Run(scripts_.job_uniq_take, tag_, std::move(args));
  if (!r.ok()) return r.status();
  if (r->elements.size() != 2 * items.size()) {
    return absl::InternalError("job_uniq_take.lua returned a short reply");
  }
  std::vector<Taken> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    out[i].ok = r->elements[2 * i].str == "ok";
    (out[i].ok ? out[i].token : out[i].held) = Str(r->elements[2 * i + 1]);
  }
  return out;
}

absl::StatusOr<std::string> RedisStore::ReserveFor(const std::string& identifier, JobId id,
                                                   const std::string& tag) {
  const std::string idkey = IdKey(id);
  for (int round = 0; round < kMaxRounds; ++round) {
    absl::StatusOr<redis::Reply> cur = client_->Command({"HGET", Key("uniq"), identifier});
    if (!cur.ok()) return cur.status();
    std::string expected;
    if (!cur->is_nil()) {
      absl::StatusOr<Reservation> res = ParseReservation(cur->str);
      if (!res.ok()) return res.status();
      if (res->id != idkey) {
        absl::StatusOr<std::vector<Holder>> h = CheckHolders({*res});
        if (!h.ok()) return h.status();
        if ((*h)[0].live) {
          absl::StatusOr<JobId> holder = ParseId(res->id);
          return absl::FailedPreconditionError(absl::StrCat(
              "cannot requeue job ", id, ": job ", holder.ok() ? absl::StrCat(*holder) : res->id,
              " holds the same identifier and is not finished"));
        }
      }
      expected = res->raw;
    }
    absl::StatusOr<std::vector<Taken>> taken = TakeReservations(
        {{.identifier = identifier, .expected = expected, .id = idkey, .tag = tag}});
    if (!taken.ok()) return taken.status();
    if ((*taken)[0].ok) return (*taken)[0].token;
  }
  return absl::AbortedError(absl::StrCat("the identifier \"", identifier, "\" of job ", id,
                                         " changed hands ", kMaxRounds,
                                         " times while it was being requeued; try again"));
}

absl::Status RedisStore::ForgetJobs(const std::vector<std::pair<std::string, std::string>>& jobs) {
  if (jobs.empty()) return absl::OkStatus();
  std::vector<std::string> args;
  for (const auto& [id, identifier] : jobs) {
    args.push_back(id);
    args.push_back(identifier);
  }
  return Run(scripts_.job_forget, tag_, std::move(args)).status();
}

}  // namespace popqueue::store::redis_store
