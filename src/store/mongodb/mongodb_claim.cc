// JobClaim: due jobs of the unpaused queues, in claim order, exactly once.
//
// Candidates. Per unpaused queue, two kinds of equality-led finds:
// - due waiting jobs: {wait: queue, run_at <= now} in claim order, limit n;
// - available jobs, one priority level at a time in ascending priority:
//   {ready: "queue|priority"}. Levels are listed in <collection>_levels
//   (written before the first job of a level is stored, never removed). A
//   queue stops at the first levels that yield n candidates: later levels
//   cannot come first.
// On MongoDB each find is sorted by its index and limited to n, so the merge
// below is exact. FerretDB sorts in Go over every match and pushes no limit
// down with a filter, but stops decoding once a limit is reached: there a
// level is read unsorted with a window of max(2n, 128) documents in storage
// order (roughly the order jobs became available) and ordered here. Claim
// order is then exact whenever a level holds no more than the window, and
// approximately first-in first-out beyond it (docs/mongodb.md).
//
// Exclusivity. The merged candidates' first n get one claim record each,
// "<id>:<claim_seq + 1>", in one unordered insertMany into
// <collection>_claims; a duplicate key means another claimer won that job,
// and the next candidates of the window take the lost ones' places. A record
// left by a claimer that stopped before moving its job is released once that
// claim's lease has expired (ReleaseAbandonedClaims).
// A found document is kept only if it still matches its find (in state,
// field and due time): a server may return one that changed after its index
// matched it. One unordered bulk update moves the won jobs to running,
// filtered on each job as found (an admin may have cancelled one in
// between), the state precondition in the filter, as MongoDB documents a
// single-document update atomic: per job
// ({_id, ready|wait, state, claim_seq}) for a few, per group of candidates found
// alike ({ready|wait, state, claim_seq, _id: {$in}}) for many, because
// FerretDB scans the whole collection once per update. When the window runs out
// with jobs lost, it looks again (three rounds at most), so a claimer under
// contention still fills its batch.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"

namespace popqueue::store::mongodb {
namespace {

constexpr int kClaimRounds = 3;

int Window(int want) { return std::max(2 * want, 128); }

struct Candidate {
  BsonPtr doc;
  JobId id = 0;
  int priority = 0;
  int64_t run_at = 0;
  int64_t claim_seq = 0;
  std::string state;
  // Where it was found: {ready: level} or {wait: queue}.
  const char* field = "";
  std::string value;

  auto Order() const { return std::tie(priority, run_at, id); }
};

Candidate ReadCandidate(BsonPtr doc, const char* field, std::string value) {
  Candidate c;
  c.field = field;
  c.value = std::move(value);
  c.id = GetInt64(doc.get(), "_id").value_or(0);
  c.priority = static_cast<int>(GetInt64(doc.get(), "priority").value_or(0));
  c.run_at = GetInt64(doc.get(), "run_at").value_or(0);
  c.claim_seq = GetInt64(doc.get(), "claim_seq").value_or(0);
  c.state = GetStr(doc.get(), "state").value_or("");
  c.doc = std::move(doc);
  return c;
}

// Below this many won jobs, each is updated on its own: FerretDB scans the
// collection once per update either way, while a grouped update also decodes
// every job of the group's level.
constexpr size_t kGroupedClaimUpdate = 8;

// The updates that move the won candidates to running. Each is filtered on
// the candidate as found (state, claim_seq, and where it was found, which
// implies the state): an admin may have cancelled it meanwhile. Candidates
// found alike share one update when there are many (see above).
std::vector<UpdateOp> ClaimUpdates(const std::vector<const Candidate*>& won,
                                   const JobClaimParams& params) {
  auto change = [&](int64_t claim_seq) {
    Doc update;
    update
        .Sub("$set", Doc()
                         .Str("state", "running")
                         .Time("picked_at", params.now)
                         .Str("worker_id", params.worker_id)
                         .Int64("lease_token", params.lease_token)
                         .Str("lease", LeaseKey(params.lease_token))
                         .Time("lease_expires_at", params.now + params.lease)
                         .Bool("cancel_requested", false)
                         .Int64("claim_seq", claim_seq + 1))
        .Sub("$unset", Doc()
                           .Str("ready", "")
                           .Str("wait", "")
                           .Str("stop_reason", "")
                           .Str("stopping_since", "")
                           .Str("stop_overdue", ""))
        .Sub("$inc", Doc().Int32("attempt", 1));
    return update;
  };
  std::vector<UpdateOp> ops;
  if (won.size() < kGroupedClaimUpdate) {
    for (const Candidate* c : won) {
      // Where it was found is part of the precondition: a claimable state
      // holds `ready` or `wait`, a running job neither.
      Doc mine = ById(c->id);
      mine.Str(c->field, c->value).Str("state", c->state).Int64("claim_seq", c->claim_seq);
      ops.push_back(UpdateOp{std::move(mine), change(c->claim_seq)});
    }
    return ops;
  }
  std::map<std::tuple<std::string, std::string, std::string, int64_t>, std::vector<JobId>> groups;
  for (const Candidate* c : won) {
    groups[{c->field, c->value, c->state, c->claim_seq}].push_back(c->id);
  }
  for (const auto& [group, ids] : groups) {
    const auto& [field, value, state, claim_seq] = group;
    Doc mine;
    mine.Str(field, value)
        .Str("state", state)
        .Int64("claim_seq", claim_seq)
        .Sub("_id", InInt64(ids));
    ops.push_back(UpdateOp{std::move(mine), change(claim_seq)});
  }
  return ops;
}

// A claim record is written before its job moves to running, by a separate
// call: a claimer that dies or loses the server in between (a worker killed,
// the server restarted) leaves the record "<id>:<n+1>" of a job still at
// claim_seq n, and every later claim of that job would collide with it
// forever: the job stays available and never runs. A record whose claim's
// lease has expired while its job never moved is abandoned (had that claim
// gone through, its job would be rescued by now), so the job gets claim_seq
// n+1 and nothing else: the next claim writes a fresh record "<id>:<n+2>".
// Only jobs due for longer than a lease can have such a record (a record is
// written after its job became due), so fresh contention costs no read.
absl::Status ReleaseAbandonedClaims(const Collection& jobs, const Collection& claims,
                                    const std::vector<const Candidate*>& lost,
                                    const JobClaimParams& params) {
  std::map<std::string, const Candidate*> by_record;
  for (const Candidate* c : lost) {
    if (params.now - absl::FromUnixMicros(c->run_at) > params.lease) {
      by_record[absl::StrFormat("%d:%d", c->id, c->claim_seq + 1)] = c;
    }
  }
  if (by_record.empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  for (const auto& [id, c] : by_record) ids.push_back(id);
  absl::StatusOr<std::vector<BsonPtr>> records =
      claims.Find(Doc().Sub("_id", InStr(ids)), Doc(), "claim: read colliding claims");
  if (!records.ok()) return records.status();
  std::vector<UpdateOp> ops;
  for (const BsonPtr& r : *records) {
    std::optional<absl::Time> expires = GetTime(r.get(), "expires");
    // Records written before `expires` existed: their time plus our lease.
    if (!expires) {
      std::optional<absl::Time> at = GetTime(r.get(), "at");
      if (at) expires = *at + params.lease;
    }
    auto it = by_record.find(GetStr(r.get(), "_id").value_or(""));
    if (!expires || *expires >= params.now || it == by_record.end()) continue;
    const Candidate* c = it->second;
    Doc unmoved = ById(c->id);
    unmoved.Str("state", c->state).Int64("claim_seq", c->claim_seq);
    ops.push_back(
        UpdateOp{std::move(unmoved),
                 std::move(Doc().Sub("$set", Doc().Int64("claim_seq", c->claim_seq + 1)))});
  }
  if (ops.empty()) return absl::OkStatus();
  absl::StatusOr<int64_t> released = jobs.BulkUpdateById(ops, "claim: release abandoned claims");
  return released.status();
}

// Records the claims of `chunk` (one unordered insertMany) and moves the won
// jobs to running, appending them to `out` and the lost ones to `lost`.
// Returns how many were lost. On an error, `out` holds what was taken.
absl::StatusOr<int> TakeCandidates(const Collection& jobs, const Collection& claims,
                                   const std::vector<const Candidate*>& chunk,
                                   const JobClaimParams& params, JobClaimResult& out,
                                   std::vector<JobId>& lost) {
  // One claim record per (job, claim_seq + 1): of several claimers that saw
  // the job in the same state exactly one inserts it.
  std::vector<Doc> records;
  std::vector<const bson_t*> record_ptrs;
  for (const Candidate* c : chunk) {
    records.push_back(std::move(Doc()
                                    .Str("_id", absl::StrFormat("%d:%d", c->id, c->claim_seq + 1))
                                    .Int64("job_id", c->id)
                                    .Str("worker_id", params.worker_id)
                                    .Time("at", params.now)
                                    .Time("expires", params.now + params.lease)));
  }
  for (const Doc& r : records) record_ptrs.push_back(r.get());
  absl::StatusOr<std::vector<WriteError>> refused =
      claims.InsertMany(record_ptrs, "claim: record claims");
  if (!refused.ok()) return refused.status();
  std::set<size_t> lost_here;
  for (const WriteError& e : *refused) {
    if (e.code != kDuplicateKey) {
      return absl::InternalError(
          absl::StrFormat("claim: the server refused a claim record: %s", e.message));
    }
    lost_here.insert(e.index);
  }
  int lost_count = static_cast<int>(lost_here.size());
  std::vector<const Candidate*> won, lost_now;
  for (size_t k = 0; k < chunk.size(); ++k) {
    if (lost_here.count(k)) {
      lost.push_back(chunk[k]->id);
      lost_now.push_back(chunk[k]);
    } else {
      won.push_back(chunk[k]);
    }
  }
  // After this claim's own update, and best effort: an error only leaves the
  // abandoned records for the next collision.
  auto release = [&] { ReleaseAbandonedClaims(jobs, claims, lost_now, params).IgnoreError(); };
  if (won.empty()) {
    release();
    return lost_count;
  }
  absl::StatusOr<int64_t> matched = jobs.BulkUpdateById(ClaimUpdates(won, params), "claim");
  if (!matched.ok()) return matched.status();
  const bool all = *matched == static_cast<int64_t>(won.size());
  std::map<JobId, BsonPtr> read_back;
  if (!all) {
    // Some job changed between the find and the update (an admin cancelled
    // it): read them back (rare) and keep those this claim moved.
    std::vector<JobId> ids;
    for (const Candidate* c : won) ids.push_back(c->id);
    Doc mine;
    mine.Str("lease", LeaseKey(params.lease_token)).Sub("_id", InInt64(ids));
    absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(mine, Doc(), "claim: read back");
    if (!docs.ok()) return docs.status();
    for (BsonPtr& d : *docs) {
      const JobId id = GetInt64(d.get(), "_id").value_or(0);
      read_back[id] = std::move(d);
    }
  }
  for (const Candidate* c : won) {
    if (!all) {
      auto it = read_back.find(c->id);
      if (it == read_back.end() || GetStr(it->second.get(), "state").value_or("") != "running" ||
          GetInt64(it->second.get(), "lease_token").value_or(0) != params.lease_token ||
          GetInt64(it->second.get(), "claim_seq").value_or(0) != c->claim_seq + 1) {
        lost.push_back(c->id);
        ++lost_count;
        continue;
      }
      absl::StatusOr<Job> job = ReadJob(it->second.get());
      if (!job.ok()) return job.status();
      out.push_back(std::move(*job));
      continue;
    }
    // The document as the update left it.
    absl::StatusOr<Job> job = ReadJob(c->doc.get());
    if (!job.ok()) return job.status();
    job->state = JobState::kRunning;
    job->picked_at = params.now;
    job->worker_id = params.worker_id;
    job->lease_token = params.lease_token;
    job->lease_expires_at = params.now + params.lease;
    job->cancel_requested = false;
    job->stopping.reset();
    job->attempt += 1;
    out.push_back(std::move(*job));
  }
  release();
  return lost_count;
}

// A claim interrupted by an error after it took some jobs: those jobs are
// running under the caller's lease and would wait for the rescuer, so they are
// returned (the caller works them); the error surfaces on the next call.
absl::StatusOr<JobClaimResult> PartialClaim(JobClaimResult claimed, absl::Status error) {
  if (claimed.empty()) return error;
  return claimed;
}

}  // namespace

absl::StatusOr<JobClaimResult> MongoStore::DoJobClaim(const JobClaimParams& params) {
  Pool::Lease lease(pool_.get());
  Collection jobs(*pool_, lease, options_.database, jobs_);
  Collection queues(*pool_, lease, options_.database, queues_);
  Collection claims(*pool_, lease, options_.database, claims_);
  Collection levels(*pool_, lease, options_.database, levels_);

  // The queues and levels collections hold a few documents each.
  absl::StatusOr<std::vector<BsonPtr>> paused =
      queues.Find(Doc().Sub("_id", InStr(params.queues)).Bool("paused", true),
                  Doc().Sub("projection", Keys({{"_id", 1}})), "claim: paused queues");
  if (!paused.ok()) return paused.status();
  std::set<std::string> active(params.queues.begin(), params.queues.end());
  for (const BsonPtr& d : *paused) active.erase(GetStr(d.get(), "_id").value_or(""));
  if (active.empty()) return JobClaimResult();
  const std::vector<std::string> names(active.begin(), active.end());
  absl::StatusOr<std::vector<BsonPtr>> level_docs =
      levels.Find(Doc().Sub("queue", InStr(names)), Doc(), "claim: levels");
  if (!level_docs.ok()) return level_docs.status();
  std::map<std::string, std::set<int>> levels_of;
  for (const BsonPtr& d : *level_docs) {
    levels_of[GetStr(d.get(), "queue").value_or("")].insert(
        static_cast<int>(GetInt64(d.get(), "priority").value_or(0)));
  }

  JobClaimResult out;
  std::vector<JobId> lost;
  for (int round = 0; round < kClaimRounds; ++round) {
    const int want = params.limit - static_cast<int>(out.size());
    std::vector<Candidate> candidates;
    auto find = [&](const char* field, const std::string& value, Doc filter,
                    Doc opts) -> absl::Status {
      if (!lost.empty()) filter.Sub("_id", Doc().Int64Array("$nin", lost));
      absl::StatusOr<std::vector<BsonPtr>> found = jobs.Find(filter, opts, "claim: find due jobs");
      if (!found.ok()) return found.status();
      for (BsonPtr& d : *found) {
        Candidate c = ReadCandidate(std::move(d), field, value);
        // Only documents that match what was asked: mongo-java-server may
        // return one that changed between its index lookup and its read
        // (MongoAtomicity.FindReturnsOnlyDocumentsMatchingItsFilter), e.g.
        // a job another claimer just moved to running.
        if (GetStr(c.doc.get(), field).value_or("") != value) continue;
        const bool claimable = std::string_view(field) == "ready"
                                   ? c.state == "available"
                                   : (c.state == "scheduled" || c.state == "retryable") &&
                                         c.run_at <= absl::ToUnixMicros(params.now);
        if (!claimable) continue;
        candidates.push_back(std::move(c));
      }
      return absl::OkStatus();
    };
    for (const std::string& queue : names) {
      Doc due;
      due.Str("wait", queue).Sub("run_at", Doc().Time("$lte", params.now));
      if (absl::Status s = find("wait", queue, std::move(due),
                                std::move(Doc().Sub("sort", ClaimOrder()).Int64("limit", want)));
          !s.ok()) {
        return PartialClaim(std::move(out), s);
      }
      const size_t before = candidates.size();
      for (int priority : levels_of[queue]) {
        Doc opts;
        const int limit = ferretdb_ ? Window(want) : want;
        if (!ferretdb_) opts.Sub("sort", Keys({{"run_at", 1}, {"_id", 1}}));
        // One reply: no getMore round trips.
        opts.Int64("limit", limit).Int64("batchSize", limit);
        const std::string level = ReadyKey(queue, priority);
        if (absl::Status s =
                find("ready", level, std::move(Doc().Str("ready", level)), std::move(opts));
            !s.ok()) {
          return PartialClaim(std::move(out), s);
        }
        if (candidates.size() - before >= static_cast<size_t>(want)) break;
      }
    }
    if (candidates.empty()) break;
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.Order() < b.Order(); });
    // Whether more candidates may exist beyond these.
    const bool more = candidates.size() >= static_cast<size_t>(want);
    bool lost_some = false;
    // The first candidates in claim order; those another claimer won are
    // replaced by the next ones of this window at once (claim records are
    // cheap inserts), so a claimer under contention needs few finds.
    for (size_t next = 0;
         next < candidates.size() && out.size() < static_cast<size_t>(params.limit);) {
      const size_t take =
          std::min(candidates.size() - next, static_cast<size_t>(params.limit) - out.size());
      std::vector<const Candidate*> chunk;
      for (size_t k = next; k < next + take; ++k) chunk.push_back(&candidates[k]);
      next += take;
      absl::StatusOr<int> lost_now = TakeCandidates(jobs, claims, chunk, params, out, lost);
      if (!lost_now.ok()) return PartialClaim(std::move(out), lost_now.status());
      if (*lost_now > 0) lost_some = true;
    }
    if (out.size() == static_cast<size_t>(params.limit) || !lost_some || !more) break;
  }
  std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
    return std::tie(a.priority, a.run_at, a.id) < std::tie(b.priority, b.run_at, b.id);
  });
  return out;
}

}  // namespace popqueue::store::mongodb
