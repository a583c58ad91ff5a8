#include "store/postgres/job_insert.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace popqueue::store::postgres {
namespace {

constexpr int kMaxRounds = 5;

}  // namespace

// The contract's checks (store/validate.h) ran before; what is left is
// PostgreSQL's own limit: text columns cannot hold NUL bytes.
absl::Status RefuseNul(const NewJob& job, size_t index) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("job ", index, " of the batch: ", why));
  };
  for (const std::string* s : {&job.queue, &job.name, &job.identifier, &job.data}) {
    if (s->find('\0') != std::string::npos) {
      return bad(
          "PostgreSQL text cannot hold NUL bytes (queue, name, "
          "identifier and data must be UTF-8 text)");
    }
  }
  return absl::OkStatus();
}

void NewJobColumns::Add(const NewJob& j) {
  ids_.push_back(j.id);
  queues_.emplace_back(j.queue);
  names_.emplace_back(j.name);
  identifiers_.emplace_back(j.identifier);
  data_.emplace_back(j.data);
  priorities_.push_back(j.priority);
  max_attempts_.push_back(j.max_attempts);
  run_at_.push_back(Micros(j.run_at));
  timeouts_.push_back(absl::ToInt64Microseconds(j.timeout));
  backoffs_.push_back(absl::ToInt64Microseconds(j.backoff_base));
  metadata_.push_back(j.metadata.empty() ? std::nullopt : std::optional<std::string>(j.metadata));
}

void NewJobColumns::AppendMetadataTo(Params& p) const { p.Add(TextArray(metadata_)); }

void NewJobColumns::AppendTo(Params& p, bool with_identifier) const {
  p.Add(BigintArray(ids_)).Add(TextArray(queues_)).Add(TextArray(names_));
  if (with_identifier) p.Add(TextArray(identifiers_));
  p.Add(TextArray(data_))
      .Add(BigintArray(priorities_))
      .Add(BigintArray(max_attempts_))
      .Add(BigintArray(run_at_))
      .Add(BigintArray(timeouts_))
      .Add(BigintArray(backoffs_));
}

absl::StatusOr<JobInsertManyResult> InsertJobs(const StatementRunner& run,
                                               const SqlCatalog& catalog,
                                               const JobInsertManyParams& params) {
  for (size_t i = 0; i < params.jobs.size(); ++i) {
    if (absl::Status s = RefuseNul(params.jobs[i], i); !s.ok()) return s;
  }
  JobInsertManyResult out(params.jobs.size());
  std::vector<size_t> pending(params.jobs.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;

  for (int round = 0; round < kMaxRounds && !pending.empty(); ++round) {
    NewJobColumns columns;
    for (size_t i : pending) columns.Add(params.jobs[i]);
    Params p;
    columns.AppendTo(p, /*with_identifier=*/true);
    p.Add(params.now).Add(catalog.channel());
    columns.AppendMetadataTo(p);
    absl::StatusOr<Result> res = run("job_insert_many", p);
    if (!res.ok()) return res.status();

    std::vector<size_t> unresolved;
    const PGresult* r = res->get();
    for (int row = 0; row < PQntuples(r); ++row) {
      size_t idx = pending[static_cast<size_t>(Int(r, row, 0) - 1)];
      if (IsNull(r, row, 1)) {
        unresolved.push_back(idx);
        continue;
      }
      absl::StatusOr<JobState> state = ParseJobState(Text(r, row, 3));
      if (!state.ok()) return absl::InternalError("corrupt job state");
      out[idx] = EnqueueResult{.id = Int(r, row, 1), .inserted = Bool(r, row, 2), .state = *state};
    }
    if (unresolved.empty()) return out;

    // The conflicting jobs committed after the insert's snapshot: this
    // statement sees them.
    std::vector<std::optional<std::string>> wanted;
    for (size_t i : unresolved) wanted.emplace_back(params.jobs[i].identifier);
    Params q;
    q.Add(TextArray(wanted));
    absl::StatusOr<Result> found = run("job_find_by_identifiers", q);
    if (!found.ok()) return found.status();
    std::map<std::string, EnqueueResult, std::less<>> holders;
    for (int row = 0; row < PQntuples(found->get()); ++row) {
      absl::StatusOr<JobState> state = ParseJobState(Text(found->get(), row, 2));
      if (!state.ok()) return absl::InternalError("corrupt job state");
      holders[std::string(Text(found->get(), row, 0))] =
          EnqueueResult{.id = Int(found->get(), row, 1), .inserted = false, .state = *state};
    }
    pending.clear();
    for (size_t i : unresolved) {
      auto it = holders.find(params.jobs[i].identifier);
      if (it != holders.end()) {
        out[i] = it->second;
      } else {
        pending.push_back(i);  // finished meanwhile: insert it after all
      }
    }
  }
  if (!pending.empty()) {
    return absl::AbortedError(
        "enqueue kept racing with concurrent jobs of the same identifier; "
        "retry");
  }
  return out;
}

}  // namespace popqueue::store::postgres
