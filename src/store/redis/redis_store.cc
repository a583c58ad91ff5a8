// The Redis job store: the hot path (claim, complete, fail, heartbeat,
// rescue). Inserts and identifier reservations are in redis_insert.cc,
// reads and admin calls in redis_admin.cc.
//
// Key layout
// ----------
// Two kinds of hash tag (keys.h), so that on a Redis Cluster each queue of
// a collection has a slot of its own and the queues spread over the
// masters, while everything that spans queues lives in one slot:
//
//   C = "{<collection>}"  the collection slot:
//     C:dir        hash: job id -> Q of its queue (calls by id alone).
//     C:uniq       hash: identifier -> "<id>|<token>|<Q>", the reservation
//                  of the job holding it; C:seq counts the tokens.
//     C:queues     set of every queue name used (what fans out).
//     C:meta, C:leader:<name>, C:workers + C:worker:<id>; channel
//     C:available (wake-ups).
//   Q = "{<collection>:<queue>}"  one slot per queue ('%{}' escaped):
//     Q:job:<id>   hash: the job (its metadata, when it has any, in the
//                  field 'meta' as common/job_json.h's JSON text).
//     Q:avail      sorted set (all scores 0, ordered by member) of
//                  "<priority+2^31 %010d><run_at us %016d><id %019d>":
//                  lexicographic order is exactly the claim order
//                  (priority, run_at, id), which no double score can hold
//                  for 63-bit ids.
//     Q:sched      scheduled and retryable jobs by run_at (us, exact in a
//                  double until 2255); a claim first moves the due ones.
//     Q:running    running jobs by lease expiry (the rescuer).
//     Q:fin:<state> completed/dead/cancelled jobs by finished_at (cleaner).
//     Q:all, Q:n:<name>, Q:i:<identifier>, Q:st:<state>
//                  id-ordered sets for JobList's keyset pagination (no
//                  st:running: Q:running lists running jobs).
//     Q:counts     state -> count; Q:paused; Q:cron:<schedule> (fire
//                  records); Q:void:<id> (revoked reservations, 1 day).
//
// Why it is shaped this way
// -------------------------
// A job and every index of it share its queue's slot, so each change to
// it is one single-slot Lua script, which Redis runs atomically: a claim
// is one script, so two workers can never take the same job, and a
// complete/fail/heartbeat checks the lease token in the same step that
// changes the job (fencing). What spans queues is kept exact as follows:
//
// - Ids: a new id is checked against C:dir, and C:dir is written before
//   the job (job_reserve.lua), so an id is never taken twice, a batch
//   with a taken id stores nothing, and any job can be found by id. The
//   engine completes what it claimed, so complete/fail/heartbeat find the
//   queue in a cache of claimed jobs (directory.h) without a round trip.
// - Identifiers: uniqueness is one reservation per identifier in C:uniq,
//   taken in the collection slot before the job is written in its queue's
//   slot. The entry may name a job that is final (stale: the next job with
//   the identifier takes it over; finishing a job never has to reach the
//   collection slot) or that does not exist: its inserter is still on its
//   way, or died between the two steps. A contender waits kInsertGrace
//   for it, then revokes the entry's token in the holder's slot
//   (Q:void:<id>, or uniq_rev on a final job) and takes the entry over; a
//   late insert or requeue under a revoked token is refused in its own
//   slot and starts again. So at most one non-final job ever holds an
//   identifier, and a crash between the steps is resolved by the next
//   enqueue of that identifier. Requeue takes a fresh reservation the same
//   way.
// - Claims over several queues: one script per slot; the queues of one
//   slot are claimed together in exact order. Over several slots the store
//   first asks each for its best `limit` candidates (peek), merges them by
//   (priority, run_at, id), and claims from each slot as many as it has in
//   the merged top `limit`. Without concurrent claimers that is exactly
//   the global order. Under contention each slot still yields its best
//   remaining jobs, in order, up to its share: if another worker took
//   peeked jobs first, those may rank behind jobs of another slot (the
//   merge is as of the peek), and a slot that ran out yields fewer. Never
//   a job twice. The runtime claims one queue per call, so this path
//   serves remote workers over several queues.
// - Everything over all queues (counts, QueueList, JobList without a
//   queue, the rescuer, the cleaner) reads C:queues and runs one script
//   per slot, merging the results (limits are shared out in order).
//
// On a single node there are no slots to respect: every call over many
// queues is one script, and inserts, cron fires and deletes do the
// collection slot's part in the same script ("fused", lua/lib.lua), so the
// single-node hot path costs what it did with one slot per collection
// (redis-store.md has the commands per job). On a cluster URL the client
// (common/redis/cluster_router.h) sends each call to its slot's master and
// follows MOVED (and ASK for plain commands). A script declares only a
// probe key that never exists, so while its slot is being migrated the
// owner refuses it with ASK before it runs, and the client waits for the
// migration to end: a script never runs beside half of its slot's keys.
//
// Wake-ups: scripts that make jobs available PUBLISH the queue name on
// C:available, once per queue per call (see redis_listener.h).
//
// Layout 1 (everything under "{<collection>}", before issue 18) is refused
// at open with kFailedPrecondition naming the fix (Migrate()).
#include "store/redis/redis_store.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "store/redis/job_hash.h"
#include "store/redis/keys.h"
#include "store/redis/redis_store_impl.h"

namespace popqueue::store {

absl::StatusOr<std::shared_ptr<Store>> OpenRedisStore(const Url& url, const StoreConfig& config) {
  absl::StatusOr<std::shared_ptr<redis_store::RedisStore>> store =
      redis_store::RedisStore::Open(url, config);
  if (!store.ok()) return store.status();
  return std::shared_ptr<Store>(*std::move(store));
}

namespace redis_store {
namespace {

// The claim order of two jobs (lua/lib.lua avail_member: run_at below 0
// counts as 0).
bool ClaimsBefore(const Job& a, const Job& b) {
  const int64_t ra = std::max<int64_t>(0, absl::ToUnixMicros(a.run_at));
  const int64_t rb = std::max<int64_t>(0, absl::ToUnixMicros(b.run_at));
  if (a.priority != b.priority) return a.priority < b.priority;
  if (ra != rb) return ra < rb;
  return a.id < b.id;
}

// Items of a by-id batch grouped for script calls: per group, per queue
// tag, the item indexes.
using Sections = std::vector<std::pair<std::string, std::vector<size_t>>>;

}  // namespace

void AppendNewJobArgs(const NewJob& job, const std::string& token, std::vector<std::string>* args) {
  args->push_back(IdKey(job.id));
  args->push_back(job.name);
  args->push_back(job.identifier);
  args->push_back(job.data);
  args->push_back(absl::StrCat(job.priority));
  args->push_back(absl::StrCat(job.max_attempts));
  args->push_back(Micros(job.run_at));
  args->push_back(Micros(job.timeout));
  args->push_back(Micros(job.backoff_base));
  args->push_back(token);
  args->push_back(job.metadata);
}

absl::StatusOr<std::vector<Job>> JobsFromReplies(const redis::Reply& reply) {
  std::vector<Job> jobs;
  jobs.reserve(reply.elements.size());
  for (const redis::Reply& hash : reply.elements) {
    absl::StatusOr<Job> job = JobFromHash(hash);
    if (!job.ok()) return job.status();
    jobs.push_back(*std::move(job));
  }
  return jobs;
}

absl::StatusOr<std::shared_ptr<RedisStore>> RedisStore::Open(const Url& url,
                                                             const StoreConfig& config) {
  if (absl::Status s = ValidateIdentifierName("collection", config.collection); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<redis::Client>> client = redis::Client::Connect(url);
  if (!client.ok()) return client.status();
  auto store = std::make_shared<RedisStore>(*std::move(client), config.collection);
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  return store;
}

RedisStore::RedisStore(std::shared_ptr<redis::Client> client, const std::string& prefix)
    : client_(std::move(client)),
      collection_(prefix),
      tag_(CollectionTag(prefix)),
      fused_(!client_->cluster()),
      directory_(client_.get(), absl::StrCat(tag_, ":dir")),
      listener_(client_, absl::StrCat(tag_, ":available")) {}

std::string RedisStore::QueueTag(std::string_view queue) const {
  return redis_store::QueueTag(collection_, queue);
}

std::string RedisStore::Key(std::string_view kind) const {
  return absl::StrCat(tag_, ":", std::string(kind));
}
std::string RedisStore::Key(std::string_view kind, std::string_view name) const {
  return absl::StrCat(tag_, ":", std::string(kind), ":", std::string(name));
}

absl::StatusOr<redis::Reply> RedisStore::Run(const redis::Script& script, const std::string& tag,
                                             std::vector<std::string> args) {
  args.insert(args.begin(), tag_);
  return client_->Eval(script, {ProbeKey(tag)}, args);
}

std::vector<std::vector<size_t>> RedisStore::Groups(const std::vector<std::string>& tags) const {
  return GroupBySlot(tags, !fused_);
}

absl::StatusOr<std::vector<std::string>> RedisStore::QueueNames() {
  absl::StatusOr<redis::Reply> r = client_->Command({"SMEMBERS", Key("queues")});
  if (!r.ok()) return r.status();
  std::vector<std::string> names;
  for (const redis::Reply& e : r->elements) names.push_back(e.str);
  std::sort(names.begin(), names.end());
  // What this process registered and is no longer there (the keys were
  // deleted under it) is registered again by the next insert.
  MutexLock lock(&mu_);
  registered_ = std::set<std::string>(names.begin(), names.end());
  return names;
}

std::vector<std::string> RedisStore::Unregistered(const std::vector<std::string>& names) {
  std::set<std::string> out;
  MutexLock lock(&mu_);
  for (const std::string& n : names) {
    if (!registered_.contains(n)) out.insert(n);
  }
  return {out.begin(), out.end()};
}

void RedisStore::MarkRegistered(const std::vector<std::string>& names) {
  MutexLock lock(&mu_);
  registered_.insert(names.begin(), names.end());
}

// There is no schema to create: keys appear on first write. Migrate records
// the layout version and refuses data written by another layout.
absl::Status RedisStore::DoMigrate() {
  const std::string meta = Key("meta");
  absl::StatusOr<redis::Reply> set =
      client_->Command({"HSETNX", meta, "version", absl::StrCat(kSchemaVersion)});
  if (!set.ok()) return set.status();
  absl::StatusOr<redis::Reply> got = client_->Command({"HGET", meta, "version"});
  if (!got.ok()) return got.status();
  absl::StatusOr<int64_t> version = got->AsInt();
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("the Redis keys under ", tag_,
                     " were written by a newer popqueue "
                     "(layout version ",
                     *version, ", this build knows ", kSchemaVersion,
                     "); upgrade popqueue or use another collection"));
  }
  if (*version < kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("the Redis keys of collection \"", collection_, "\" use layout version ",
                     *version, " (the whole collection under the one hash tag ", tag_,
                     "); this popqueue uses layout ", kSchemaVersion,
                     " (a hash tag per queue) and does not convert them. Finish the jobs "
                     "with the popqueue that wrote them, then delete the collection's keys "
                     "(redis-cli --scan --pattern '",
                     tag_,
                     ":*' | xargs redis-cli unlink), "
                     "or open another collection (docs/redis-store.md, \"Layout versions\")"));
  }
  return DropRunningIndex();
}

// Layout 2 kept running jobs in a listing index Q:st:running too; since
// 2026-12 they are listed from Q:running. The first open of a collection
// by this version deletes the old index of every queue, then marks it done
// in C:meta (an open racing it deletes them again, harmlessly).
absl::Status RedisStore::DropRunningIndex() {
  const std::string meta = Key("meta");
  absl::StatusOr<redis::Reply> done = client_->Command({"HGET", meta, "st_running_dropped"});
  if (!done.ok()) return done.status();
  if (!done->is_nil()) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> names = QueueNames();
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    absl::StatusOr<redis::Reply> r =
        client_->Command({"UNLINK", absl::StrCat(QueueTag(name), ":st:running")});
    if (!r.ok()) return r.status();
  }
  absl::StatusOr<redis::Reply> set = client_->Command({"HSET", meta, "st_running_dropped", "1"});
  return set.ok() ? absl::OkStatus() : set.status();
}

absl::StatusOr<redis::Reply> RedisStore::ClaimGroup(const JobClaimParams& params,
                                                    const std::vector<std::string>& names,
                                                    const std::vector<std::string>& tags,
                                                    const std::vector<size_t>& group, int limit,
                                                    bool peek) {
  std::vector<std::string> args = {Micros(params.now),
                                   absl::StrCat(limit),
                                   params.worker_id,
                                   absl::StrCat(params.lease_token),
                                   Micros(params.now + params.lease),
                                   peek ? "1" : "0"};
  for (size_t i : group) {
    args.push_back(tags[i]);
    args.push_back(names[i]);
  }
  return Run(scripts_.job_claim, tags[group[0]], std::move(args));
}

absl::StatusOr<std::vector<Job>> RedisStore::ReadClaimed(const JobClaimParams& params,
                                                         const std::vector<std::string>& tags,
                                                         const std::vector<size_t>& group,
                                                         const redis::Reply& claimed) {
  std::vector<std::vector<std::string>> reads;
  reads.reserve(claimed.elements.size() / 2);
  for (size_t i = 0; i + 1 < claimed.elements.size(); i += 2) {
    const int64_t pair = claimed.elements[i + 1].integer;
    if (pair < 1 || static_cast<size_t>(pair) > group.size()) {
      return absl::InternalError(absl::StrCat("job_claim.lua: queue pair ", pair, " out of range"));
    }
    reads.push_back(
        {"HGETALL", absl::StrCat(tags[group[pair - 1]], ":job:", claimed.elements[i].str)});
  }
  std::vector<Job> jobs;
  if (reads.empty()) return jobs;
  absl::StatusOr<std::vector<redis::Reply>> hashes = client_->PipelineOrError(reads);
  if (!hashes.ok()) return hashes.status();
  jobs.reserve(hashes->size());
  for (const redis::Reply& hash : *hashes) {
    // Deleted, or rescued and claimed again, since the claim: not ours.
    if (hash.elements.empty()) continue;
    absl::StatusOr<Job> job = JobFromHash(hash);
    if (!job.ok()) return job.status();
    if (job->lease_token != params.lease_token || job->state != JobState::kRunning) continue;
    jobs.push_back(*std::move(job));
  }
  return jobs;
}

absl::StatusOr<JobClaimResult> RedisStore::DoJobClaim(const JobClaimParams& params) {
  std::vector<std::string> names, tags;
  for (const std::string& q : params.queues) {
    if (std::find(names.begin(), names.end(), q) != names.end()) continue;
    names.push_back(q);
    tags.push_back(QueueTag(q));
  }
  if (names.empty()) return JobClaimResult{};
  const std::vector<std::vector<size_t>> groups = Groups(tags);
  // Over several slots: how many to claim from each (see the essay).
  std::vector<int> quota(groups.size(), params.limit);
  if (groups.size() > 1) {
    std::vector<std::pair<std::string, size_t>> best;  // member, group
    for (size_t g = 0; g < groups.size(); ++g) {
      absl::StatusOr<redis::Reply> r =
          ClaimGroup(params, names, tags, groups[g], params.limit, true);
      if (!r.ok()) return r.status();
      for (size_t i = 0; i + 1 < r->elements.size(); i += 2) {
        best.emplace_back(r->elements[i].str, g);
      }
    }
    std::sort(best.begin(), best.end());
    std::fill(quota.begin(), quota.end(), 0);
    for (size_t i = 0; i < best.size() && i < static_cast<size_t>(params.limit); ++i) {
      ++quota[best[i].second];
    }
  }
  JobClaimResult out;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (quota[g] == 0) continue;
    absl::StatusOr<redis::Reply> r = ClaimGroup(params, names, tags, groups[g], quota[g], false);
    if (!r.ok()) return r.status();
    absl::StatusOr<std::vector<Job>> jobs = ReadClaimed(params, tags, groups[g], *r);
    if (!jobs.ok()) return jobs.status();
    for (Job& job : *jobs) out.push_back(std::move(job));
  }
  if (groups.size() > 1) std::sort(out.begin(), out.end(), ClaimsBefore);
  for (const Job& job : out) directory_.Remember(job.id, QueueTag(job.queue));
  return out;
}

namespace {

// The items' queue tags from the directory, grouped for script calls.
// Items of unknown jobs are left out (they cannot match a lease).
template <typename Item>
absl::StatusOr<std::vector<Sections>> GroupItems(
    Directory& directory, const std::vector<Item>& items,
    const std::function<std::vector<std::vector<size_t>>(const std::vector<std::string>&)>&
        groups_of) {
  std::vector<JobId> ids;
  ids.reserve(items.size());
  for (const Item& item : items) ids.push_back(item.id);
  absl::StatusOr<std::vector<std::optional<std::string>>> tags = directory.Lookup(ids);
  if (!tags.ok()) return tags.status();
  // Distinct tags, and the items of each.
  std::vector<std::string> distinct;
  std::map<std::string, size_t> index;
  std::vector<std::vector<size_t>> items_of;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!(*tags)[i]) continue;
    auto [it, added] = index.emplace(*(*tags)[i], distinct.size());
    if (added) {
      distinct.push_back(*(*tags)[i]);
      items_of.emplace_back();
    }
    items_of[it->second].push_back(i);
  }
  std::vector<Sections> out;
  for (const std::vector<size_t>& group : groups_of(distinct)) {
    Sections sections;
    for (size_t t : group) sections.emplace_back(distinct[t], items_of[t]);
    out.push_back(std::move(sections));
  }
  return out;
}

// The ids of `items` that are in `matched`, in params order, each once.
template <typename Item>
JobIdList InParamsOrder(const std::vector<Item>& items, std::set<JobId> matched) {
  JobIdList out;
  for (const Item& item : items) {
    if (matched.erase(item.id) == 1) out.push_back(item.id);
  }
  return out;
}

absl::Status AddIds(const redis::Reply& reply, std::set<JobId>* out) {
  for (const redis::Reply& e : reply.elements) {
    absl::StatusOr<JobId> id = ParseId(e.str);
    if (!id.ok()) return id.status();
    out->insert(*id);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobIdList> RedisStore::DoJobCompleteMany(const JobCompleteManyParams& params) {
  return SplitByDependants(params, [this](const JobCompleteManyParams& part, bool workflow) {
    return CompleteItems(workflow ? scripts_.workflow_complete_many : scripts_.job_complete_many,
                         part);
  });
}

absl::StatusOr<JobIdList> RedisStore::DoJobFailMany(const JobFailManyParams& params) {
  return SplitByDependants(params, [this](const JobFailManyParams& part, bool workflow) {
    return FailItems(workflow ? scripts_.workflow_fail_many : scripts_.job_fail_many, part);
  });
}

absl::StatusOr<JobIdList> RedisStore::CompleteItems(const redis::Script& script,
                                                    const JobCompleteManyParams& params) {
  auto groups =
      GroupItems(directory_, params.items, [this](const auto& tags) { return Groups(tags); });
  if (!groups.ok()) return groups.status();
  std::set<JobId> done;
  for (const Sections& sections : *groups) {
    std::vector<std::string> args = {Micros(params.now)};
    for (const auto& [tag, indexes] : sections) {
      args.push_back(tag);
      args.push_back(absl::StrCat(indexes.size()));
      for (size_t i : indexes) {
        const JobCompleteItem& item = params.items[i];
        args.push_back(IdKey(item.id));
        args.push_back(absl::StrCat(item.lease_token));
        args.push_back(item.result ? "1" : "0");
        args.push_back(item.result.value_or(""));
      }
    }
    absl::StatusOr<redis::Reply> r = Run(script, sections[0].first, std::move(args));
    if (!r.ok()) return r.status();
    if (absl::Status s = AddIds(*r, &done); !s.ok()) return s;
  }
  JobIdList out = InParamsOrder(params.items, std::move(done));
  directory_.Forget(out);
  return out;
}

absl::StatusOr<JobIdList> RedisStore::FailItems(const redis::Script& script,
                                                const JobFailManyParams& params) {
  auto groups =
      GroupItems(directory_, params.items, [this](const auto& tags) { return Groups(tags); });
  if (!groups.ok()) return groups.status();
  std::set<JobId> done;
  auto snoozed = [&](size_t i) { return params.items[i].to == JobState::kScheduled; };
  for (const Sections& sections : *groups) {
    // Snoozed items go to job_snooze_many.lua, in a call of their own: a
    // batch without any sends job_fail_many alone, as it always did.
    std::vector<std::string> args = {Micros(params.now)};
    std::vector<std::string> snooze_args = {Micros(params.now)};
    for (const auto& [tag, indexes] : sections) {
      const size_t n_snooze = std::count_if(indexes.begin(), indexes.end(), snoozed);
      if (n_snooze < indexes.size()) {
        args.push_back(tag);
        args.push_back(absl::StrCat(indexes.size() - n_snooze));
      }
      if (n_snooze > 0) {
        snooze_args.push_back(tag);
        snooze_args.push_back(absl::StrCat(n_snooze));
      }
      for (size_t i : indexes) {
        const JobFailItem& item = params.items[i];
        if (snoozed(i)) {
          snooze_args.push_back(IdKey(item.id));
          snooze_args.push_back(absl::StrCat(item.lease_token));
          snooze_args.push_back(Micros(item.run_at));
          continue;
        }
        args.push_back(IdKey(item.id));
        args.push_back(absl::StrCat(item.lease_token));
        args.push_back(std::string(JobStateName(item.to)));
        args.push_back(Micros(item.run_at));
        args.push_back(item.error);
      }
    }
    if (snooze_args.size() > 1) {
      absl::StatusOr<redis::Reply> r =
          Run(scripts_.job_snooze_many, sections[0].first, std::move(snooze_args));
      if (!r.ok()) return r.status();
      if (absl::Status s = AddIds(*r, &done); !s.ok()) return s;
    }
    if (args.size() > 1) {
      absl::StatusOr<redis::Reply> r = Run(script, sections[0].first, std::move(args));
      if (!r.ok()) return r.status();
      if (absl::Status s = AddIds(*r, &done); !s.ok()) return s;
    }
  }
  JobIdList out = InParamsOrder(params.items, std::move(done));
  directory_.Forget(out);
  return out;
}

absl::StatusOr<JobHeartbeatManyResult> RedisStore::DoJobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  JobHeartbeatManyResult out;
  auto groups =
      GroupItems(directory_, params.items, [this](const auto& tags) { return Groups(tags); });
  if (!groups.ok()) return groups.status();
  std::set<JobId> extended, cancel;
  for (const Sections& sections : *groups) {
    std::vector<std::string> args = {Micros(params.now), Micros(params.now + params.lease)};
    for (const auto& [tag, indexes] : sections) {
      args.push_back(tag);
      args.push_back(absl::StrCat(indexes.size()));
      for (size_t i : indexes) {
        const JobHeartbeatItem& item = params.items[i];
        args.push_back(IdKey(item.id));
        args.push_back(absl::StrCat(item.lease_token));
        args.push_back(item.progress ? absl::StrCat(std::clamp(*item.progress, 0, 100)) : "");
        if (item.stopping) {
          args.push_back(item.stopping->reason);
          args.push_back(Micros(item.stopping->since));
          args.push_back(item.stopping->overdue ? "1" : "0");
        } else {
          args.insert(args.end(), {"", "", ""});
        }
      }
    }
    absl::StatusOr<redis::Reply> r =
        Run(scripts_.job_heartbeat_many, sections[0].first, std::move(args));
    if (!r.ok()) return r.status();
    if (r->elements.size() != 2) {
      return absl::InternalError("job_heartbeat_many.lua returned a bad reply");
    }
    if (absl::Status s = AddIds(r->elements[0], &extended); !s.ok()) return s;
    if (absl::Status s = AddIds(r->elements[1], &cancel); !s.ok()) return s;
  }
  out.extended = InParamsOrder(params.items, std::move(extended));
  out.cancel_requested = InParamsOrder(params.items, std::move(cancel));
  return out;
}

absl::StatusOr<JobRescueExpiredResult> RedisStore::DoJobRescueExpired(
    const JobRescueExpiredParams& params) {
  absl::StatusOr<std::vector<std::string>> tags = AllQueueTags();
  if (!tags.ok()) return tags.status();
  int left = params.limit;
  JobRescueExpiredResult moved;
  for (const std::vector<size_t>& group : Groups(*tags)) {
    if (left <= 0) break;
    std::vector<std::string> args = {Micros(params.now), absl::StrCat(left)};
    for (size_t i : group) args.push_back((*tags)[i]);
    absl::StatusOr<redis::Reply> r =
        Run(scripts_.job_rescue_expired, (*tags)[group[0]], std::move(args));
    if (!r.ok()) {
      // What the earlier groups' scripts moved is moved: report it (the
      // contract), and let the next round retry this group.
      if (moved.empty()) return r.status();
      Logf(LogLevel::kWarn, "rescue: a slot group failed after %d jobs were rescued: %s",
           static_cast<int>(moved.size()), r.status().ToString());
      return moved;
    }
    if (r->elements.size() % 2 != 0) {
      return absl::InternalError("job_rescue_expired.lua returned a bad reply");
    }
    for (size_t i = 0; i < r->elements.size(); i += 2) {
      absl::StatusOr<JobId> id = ParseId(r->elements[i].str);
      absl::StatusOr<JobState> to = ParseJobState(r->elements[i + 1].str);
      if (!id.ok() || !to.ok()) {
        return absl::InternalError("job_rescue_expired.lua returned a bad job");
      }
      moved.push_back(RescuedJob{.id = *id, .to = *to});
    }
    left -= static_cast<int>(r->elements.size() / 2);
  }
  return moved;
}

absl::StatusOr<int> RedisStore::DoSubscribe(
    std::function<void(const std::string& queue)> on_available) {
  return listener_.Subscribe(std::move(on_available));
}

void RedisStore::DoUnsubscribe(int handle) { listener_.Unsubscribe(handle); }

}  // namespace redis_store
}  // namespace popqueue::store
