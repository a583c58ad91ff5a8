// The Redis job store: the hot path (insert, claim, complete, fail,
// heartbeat, rescue). Reads and admin calls are in redis_admin.cc.
//
// Why it is shaped this way
// -------------------------
// A job is one hash, T:job:<id>. Everything else is an index kept in step
// with the hashes by Lua scripts, which Redis runs atomically: a claim is a
// single script, so two workers can never take the same job, and a crash of
// the client between two steps cannot leave half a change behind.
//
//   T:avail:<queue>  sorted set (all scores 0, ordered by member) of
//                    "<priority+2^31 %010d><run_at us %016d><id %019d>":
//                    lexicographic order is exactly the claim order
//                    (priority, run_at, id), which no double score can hold
//                    for 63-bit ids.
//   T:sched:<queue>  sorted set of scheduled and retryable jobs by run_at
//                    (us, exact in a double until 2255). A claim first moves
//                    the due ones to T:avail.
//   T:running        sorted set of running jobs by lease expiry (rescuer).
//   T:fin:<state>    completed/dead/cancelled jobs by finished_at (cleaner).
//   T:all, T:q:<queue>, T:n:<name>, T:i:<identifier>, T:st:<state>
//                    id-ordered sets for JobList's keyset pagination.
//   T:uniq           identifier -> id of the non-final job holding it.
//   T:counts         "<state>|<queue>" -> count (JobCountByState, QueueList).
//   T:paused, T:leader:<name>, T:workers + T:worker:<id>, T:cron:<schedule>.
//
// Hash tags and Redis Cluster
// ---------------------------
// T is "{<collection>}": the whole store lives in one cluster slot. The
// issue asked for a tag per queue; that was weighed and rejected for now,
// because three guarantees of the store contract span queues and would stop
// being atomic across slots: identifier uniqueness is global (an enqueue on
// queue A must see a holder on queue B), a claim over several queues must
// take jobs in one global (priority, run_at, id) order, and JobGet/JobList
// address jobs by id alone. Per-queue slots would need a two-phase
// identifier reservation in a global slot plus client-side merging, and
// would lose exactly-once claims across queues. One slot per collection
// keeps every script single-slot (Cluster accepts them, see
// tests/redis/redis_slot_test.cc) and scales out by giving independent
// applications their own collections. Scripts declare KEYS[1] = T:all, which
// routes the call to the slot, and build the other keys from ARGV[1] = T.
// On a cluster URL the client (common/redis/cluster_router.h) sends each
// call to the slot's master and follows MOVED/ASK; lua/lib.lua's probe makes
// a script refused mid-migration change nothing, so the client can resend
// it. Spreading one collection's queues over masters (per-queue tags, a
// global slot for identifiers, per-slot fan-out and merge) is issue 18's
// phase 2.
//
// Wake-ups: scripts that make jobs available PUBLISH the queue name on
// T:available, once per queue per call (see redis_listener.h).
#include "store/redis/redis_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "store/redis/job_hash.h"
#include "store/validate.h"

namespace popqueue::store {

absl::StatusOr<std::shared_ptr<Store>> OpenRedisStore(const Url& url,
                                                      const StoreConfig& config) {
  absl::StatusOr<std::shared_ptr<redis_store::RedisStore>> store =
      redis_store::RedisStore::Open(url, config);
  if (!store.ok()) return store.status();
  return std::shared_ptr<Store>(*std::move(store));
}

namespace redis_store {
namespace {

constexpr int kSchemaVersion = 1;

absl::Status ValidateLease(const JobClaimParams& p) {
  if (p.limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("claim limit must be at least 1, got ", p.limit));
  }
  if (p.lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("claim lease must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<JobIdList> IdsFromReply(const redis::Reply& reply) {
  JobIdList ids;
  for (const redis::Reply& e : reply.elements) {
    absl::StatusOr<JobId> id = ParseId(e.str);
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  return ids;
}

}  // namespace

void AppendNewJobArgs(const NewJob& job, std::vector<std::string>* args) {
  args->push_back(IdKey(job.id));
  args->push_back(job.queue);
  args->push_back(job.name);
  args->push_back(job.identifier);
  args->push_back(job.data);
  args->push_back(absl::StrCat(job.priority));
  args->push_back(absl::StrCat(job.max_attempts));
  args->push_back(Micros(job.run_at));
  args->push_back(Micros(job.timeout));
  args->push_back(Micros(job.backoff_base));
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

absl::StatusOr<std::shared_ptr<RedisStore>> RedisStore::Open(
    const Url& url, const StoreConfig& config) {
  if (absl::Status s = ValidateIdentifierName("collection", config.collection);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<redis::Client>> client =
      redis::Client::Connect(url);
  if (!client.ok()) return client.status();
  auto store = std::make_shared<RedisStore>(*std::move(client), config.collection);
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  return store;
}

RedisStore::RedisStore(std::shared_ptr<redis::Client> client,
                       const std::string& prefix)
    : client_(std::move(client)),
      tag_(absl::StrCat("{", prefix, "}")),
      listener_(client_, absl::StrCat(tag_, ":available")) {}

std::string RedisStore::Key(std::string_view kind) const {
  return absl::StrCat(tag_, ":", std::string(kind));
}
std::string RedisStore::Key(std::string_view kind, std::string_view name) const {
  return absl::StrCat(tag_, ":", std::string(kind), ":", std::string(name));
}

absl::StatusOr<redis::Reply> RedisStore::RunJobScript(
    const redis::Script& script, std::vector<std::string> args) {
  args.insert(args.begin(), tag_);
  return client_->Eval(script, {Key("all")}, args);
}

// There is no schema to create: keys appear on first write. Migrate records
// the layout version and refuses data written by a newer layout.
absl::Status RedisStore::Migrate() {
  const std::string meta = Key("meta");
  absl::StatusOr<redis::Reply> set = client_->Command(
      {"HSETNX", meta, "version", absl::StrCat(kSchemaVersion)});
  if (!set.ok()) return set.status();
  absl::StatusOr<redis::Reply> got = client_->Command({"HGET", meta, "version"});
  if (!got.ok()) return got.status();
  absl::StatusOr<int64_t> version = got->AsInt();
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the Redis keys under ", tag_, " were written by a newer popqueue "
        "(layout version ", *version, ", this build knows ", kSchemaVersion,
        "); upgrade popqueue or use another collection"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobInsertManyResult> RedisStore::JobInsertMany(
    const JobInsertManyParams& params) {
  JobInsertManyResult out;
  if (params.jobs.empty()) return out;
  std::vector<std::string> args = {Micros(params.now)};
  args.reserve(1 + params.jobs.size() * 10);
  for (const NewJob& job : params.jobs) {
    if (absl::Status s = ValidateNewJob(job); !s.ok()) return s;
    AppendNewJobArgs(job, &args);
  }
  absl::StatusOr<redis::Reply> r =
      RunJobScript(scripts_.job_insert_many, std::move(args));
  if (!r.ok()) return r.status();
  const auto& e = r->elements;
  if (!e.empty() && e[0].str == "exists") {
    return absl::AlreadyExistsError(absl::StrCat(
        "job id ", e.size() > 1 ? e[1].str : "?",
        " is already taken; nothing of the batch was stored"));
  }
  if (e.size() != 1 + 3 * params.jobs.size()) {
    return absl::InternalError("job_insert_many.lua returned a short reply");
  }
  for (size_t i = 1; i < e.size(); i += 3) {
    absl::StatusOr<JobId> id = ParseId(e[i].str);
    if (!id.ok()) return id.status();
    absl::StatusOr<JobState> state = ParseJobState(e[i + 2].str);
    if (!state.ok()) return state.status();
    out.push_back({.id = *id, .inserted = e[i + 1].integer == 1, .state = *state});
  }
  return out;
}

absl::StatusOr<JobClaimResult> RedisStore::JobClaim(const JobClaimParams& params) {
  if (absl::Status s = ValidateLease(params); !s.ok()) return s;
  if (params.queues.empty()) return JobClaimResult{};
  std::vector<std::string> args = {
      Micros(params.now), absl::StrCat(params.limit), params.worker_id,
      absl::StrCat(params.lease_token), Micros(params.now + params.lease)};
  args.insert(args.end(), params.queues.begin(), params.queues.end());
  absl::StatusOr<redis::Reply> r = RunJobScript(scripts_.job_claim, std::move(args));
  if (!r.ok()) return r.status();
  return JobsFromReplies(*r);
}

absl::StatusOr<JobIdList> RedisStore::JobCompleteMany(
    const JobCompleteManyParams& params) {
  if (params.items.empty()) return JobIdList{};
  std::vector<std::string> args = {Micros(params.now)};
  for (const JobCompleteItem& item : params.items) {
    args.push_back(IdKey(item.id));
    args.push_back(absl::StrCat(item.lease_token));
    args.push_back(item.result ? "1" : "0");
    args.push_back(item.result.value_or(""));
  }
  absl::StatusOr<redis::Reply> r =
      RunJobScript(scripts_.job_complete_many, std::move(args));
  if (!r.ok()) return r.status();
  return IdsFromReply(*r);
}

absl::StatusOr<JobIdList> RedisStore::JobFailMany(const JobFailManyParams& params) {
  if (params.items.empty()) return JobIdList{};
  std::vector<std::string> args = {Micros(params.now)};
  for (const JobFailItem& item : params.items) {
    if (item.to != JobState::kRetryable && item.to != JobState::kDead &&
        item.to != JobState::kCancelled) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a failed job goes to retryable, dead or cancelled, not ",
          std::string(JobStateName(item.to))));
    }
    args.push_back(IdKey(item.id));
    args.push_back(absl::StrCat(item.lease_token));
    args.push_back(std::string(JobStateName(item.to)));
    args.push_back(Micros(item.run_at));
    args.push_back(item.error);
  }
  absl::StatusOr<redis::Reply> r =
      RunJobScript(scripts_.job_fail_many, std::move(args));
  if (!r.ok()) return r.status();
  return IdsFromReply(*r);
}

absl::StatusOr<JobHeartbeatManyResult> RedisStore::JobHeartbeatMany(
    const JobHeartbeatManyParams& params) {
  JobHeartbeatManyResult out;
  if (params.items.empty()) return out;
  std::vector<std::string> args = {Micros(params.now),
                                   Micros(params.now + params.lease)};
  for (const JobHeartbeatItem& item : params.items) {
    args.push_back(IdKey(item.id));
    args.push_back(absl::StrCat(item.lease_token));
    args.push_back(item.progress ? absl::StrCat(std::clamp(*item.progress, 0, 100))
                                 : "");
  }
  absl::StatusOr<redis::Reply> r =
      RunJobScript(scripts_.job_heartbeat_many, std::move(args));
  if (!r.ok()) return r.status();
  if (r->elements.size() != 2) {
    return absl::InternalError("job_heartbeat_many.lua returned a bad reply");
  }
  absl::StatusOr<JobIdList> extended = IdsFromReply(r->elements[0]);
  if (!extended.ok()) return extended.status();
  absl::StatusOr<JobIdList> cancel = IdsFromReply(r->elements[1]);
  if (!cancel.ok()) return cancel.status();
  out.extended = *std::move(extended);
  out.cancel_requested = *std::move(cancel);
  return out;
}

absl::StatusOr<int> RedisStore::JobRescueExpired(
    const JobRescueExpiredParams& params) {
  absl::StatusOr<redis::Reply> r = RunJobScript(
      scripts_.job_rescue_expired,
      {Micros(params.now), absl::StrCat(std::max(params.limit, 1))});
  if (!r.ok()) return r.status();
  return static_cast<int>(r->integer);
}

absl::StatusOr<int> RedisStore::Subscribe(
    std::function<void(const std::string& queue)> on_available) {
  return listener_.Subscribe(std::move(on_available));
}

void RedisStore::Unsubscribe(int handle) { listener_.Unsubscribe(handle); }

}  // namespace redis_store
}  // namespace popqueue::store
