// JobInsertMany: identifier dedupe, one unordered insertMany, and "all or
// nothing" by compensation.
//
// Existing holders of the batch's identifiers are looked up first. A
// duplicate-key write error is resolved by looking for the id (taken ->
// kAlreadyExists) or the identifier (another enqueue took it meanwhile ->
// report that job); the write error does not say which index on every
// server. Without transactions, on any failure the jobs this call inserted
// are deleted again; a process that dies mid-batch may leave part of a batch
// stored.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "store/mongodb/job_doc.h"
#include "store/mongodb/mongodb_store_impl.h"

namespace popqueue::store::mongodb {
namespace {

constexpr int kInsertRounds = 5;
constexpr size_t kSingleLookups = 16;

}  // namespace

absl::StatusOr<JobInsertManyResult> MongoStore::DoJobInsertMany(const JobInsertManyParams& params) {
  return With(jobs_,
              [&](const Collection& jobs) { return InsertJobs(jobs, params.jobs, params.now); });
}

absl::StatusOr<JobInsertManyResult> MongoStore::InsertJobs(const Collection& jobs,
                                                           const std::vector<NewJob>& batch,
                                                           absl::Time now) {
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
      absl::StatusOr<int64_t> removed = jobs.DeleteMany(IdIn(inserted), "undo a partial insert");
      if (!removed.ok()) {
        return absl::Status(cause.code(),
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
      return undo(absl::AbortedError("enqueue: identifiers kept changing hands; retry the batch"));
    }
    // Non-final jobs that already hold these identifiers.
    std::vector<std::string> identifiers;
    for (size_t i : pending) {
      if (!batch[i].identifier.empty()) identifiers.push_back(batch[i].identifier);
    }
    std::map<std::string, EnqueueResult> holders;
    // FerretDB pushes equality down but evaluates $in over the whole
    // collection: a few identifiers are looked up one by one there.
    std::vector<Doc> lookups;
    if (ferretdb_ && identifiers.size() <= kSingleLookups) {
      for (const std::string& identifier : identifiers) {
        lookups.push_back(std::move(Doc().Str("unique_key", identifier)));
      }
    } else if (!identifiers.empty()) {
      lookups.push_back(std::move(Doc().Sub("unique_key", InStr(identifiers))));
    }
    for (const Doc& lookup : lookups) {
      absl::StatusOr<std::vector<BsonPtr>> docs = jobs.Find(
          lookup, Doc().Sub("projection", Keys({{"_id", 1}, {"state", 1}, {"unique_key", 1}})),
          "enqueue: find identifiers");
      if (!docs.ok()) return undo(docs.status());
      for (const BsonPtr& d : *docs) {
        absl::StatusOr<JobState> state = ReadState(d.get());
        if (!state.ok()) return undo(state.status());
        holders[GetStr(d.get(), "unique_key").value_or("")] = EnqueueResult{
            .id = GetInt64(d.get(), "_id").value_or(0), .inserted = false, .state = *state};
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
      const JobState state = job.run_at > now ? JobState::kScheduled : JobState::kAvailable;
      out[i] = EnqueueResult{.id = job.id, .inserted = true, .state = state};
      to_insert.push_back(i);
      docs.push_back(NewJobDoc(job, state, now));
    }
    pending.clear();
    if (to_insert.empty()) break;
    // Claims look for available jobs by priority level: record the levels
    // before the jobs exist.
    std::vector<std::pair<std::string, int>> levels;
    for (size_t i : to_insert) {
      if (batch[i].run_at <= now) levels.emplace_back(batch[i].queue, batch[i].priority);
    }
    if (absl::Status s = RegisterLevels(levels); !s.ok()) return undo(s);
    std::vector<const bson_t*> ptrs;
    for (const Doc& d : docs) ptrs.push_back(d.get());
    absl::StatusOr<std::vector<WriteError>> errors = jobs.InsertMany(ptrs, "enqueue");
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
        return undo(absl::InvalidArgumentError(
            absl::StrFormat("enqueue: job %d was refused by the server: %s",
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
        IdIn(duplicate_ids), Doc().Sub("projection", Keys({{"_id", 1}})), "enqueue: find ids");
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

}  // namespace popqueue::store::mongodb
