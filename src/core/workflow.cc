// Workflows and batches in the Queue API: keys resolved to indexes, each
// step checked as an enqueue, then one Store::WorkflowInsert. A batch is a
// workflow whose callbacks depend on every member: on_complete over
// ignore_failure edges, on_success over normal ones (docs/composition.md).
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/field_error.h"
#include "core/queue_impl.h"
#include "core/runtime.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue {
namespace {

// A batch's error about its workflow's jobs[i], said in the batch's terms:
// the callbacks, stored after the n members, are on_complete and on_success.
absl::Status BatchError(const absl::Status& status, size_t n, const std::vector<std::string>& cbs) {
  const std::string field = ErrorField(status);
  size_t index = 0;
  if (!field.starts_with("jobs[") ||
      !absl::SimpleAtoi(field.substr(5, field.find(']') - 5), &index) || index < n ||
      index - n >= cbs.size()) {
    return status;
  }
  const std::string old_prefix = field.substr(0, field.find(']') + 1);
  const std::string rest = field.substr(old_prefix.size());  // ".name", ""
  std::string message(status.message());
  if (message.starts_with(field + ": ")) message.erase(0, field.size() + 2);
  return FieldError(cbs[index - n] + rest, message, status.code());
}

}  // namespace

absl::StatusOr<WorkflowEnqueued> Queue::Impl::EnqueueWorkflow(std::vector<WorkflowStep> steps) {
  if (!status_.ok()) return status_;
  if (steps.empty()) return FieldError("jobs", "a workflow needs at least one job");
  if (steps.size() > kMaxWorkflowJobs) {
    return FieldError("jobs",
                      absl::StrFormat("at most %d jobs, got %d", kMaxWorkflowJobs, steps.size()));
  }
  std::map<std::string, int> index_of;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string key = steps[i].key.empty() ? absl::StrCat(i) : steps[i].key;
    if (!index_of.emplace(key, static_cast<int>(i)).second) {
      return FieldError(absl::StrFormat("jobs[%d].key", i),
                        absl::StrFormat("\"%s\" is the key of an earlier job", key));
    }
  }
  const absl::Time now = clock_->Now();
  store::WorkflowInsertParams params{.now = now};
  for (size_t i = 0; i < steps.size(); ++i) {
    WorkflowStep& step = steps[i];
    const std::string prefix = absl::StrFormat("jobs[%d].", i);
    if (!step.options.identifier.empty()) {
      return FieldError(prefix + "identifier", "workflow jobs cannot carry an identifier");
    }
    absl::StatusOr<store::NewJob> job = Validate(
        EnqueueRequest{.name = step.name, .data = std::move(step.data), .options = step.options},
        now);
    if (!job.ok()) return PrefixField(job.status(), prefix);
    store::WorkflowJob wj{.job = std::move(*job)};
    for (size_t k = 0; k < step.depends_on.size(); ++k) {
      auto it = index_of.find(step.depends_on[k].key);
      if (it == index_of.end()) {
        return FieldError(
            absl::StrFormat("%sdepends_on[%d]", prefix, k),
            absl::StrFormat("no job with key \"%s\" in this workflow", step.depends_on[k].key));
      }
      wj.depends_on.push_back(store::WorkflowParent{
          .index = it->second, .ignore_failure = step.depends_on[k].ignore_failure});
    }
    params.jobs.push_back(std::move(wj));
  }
  // An id collision stores nothing (as in EnqueueMany): new ids, again.
  for (int attempt = 0;; ++attempt) {
    params.workflow_id = params.jobs[0].job.id;
    absl::Status s = store_->WorkflowInsert(params);
    if (s.ok()) break;
    if (!absl::IsAlreadyExists(s) || attempt == 3) return s;
    ids_.Reseed();
    for (store::WorkflowJob& j : params.jobs) j.job.id = ids_.Next(clock_->Now());
  }
  WorkflowEnqueued out{.id = params.workflow_id};
  std::set<std::string> queues;
  for (const store::WorkflowJob& j : params.jobs) {
    out.job_ids.push_back(j.job.id);
    if (j.depends_on.empty() && j.job.run_at <= now) queues.insert(j.job.queue);
  }
  if (core::UseCoordinatorWake(*store_, coordinator_.get())) {
    for (const std::string& q : queues) PublishAvailable(q);
  }
  return out;
}

absl::StatusOr<BatchEnqueued> Queue::Impl::EnqueueBatch(BatchRequest batch) {
  if (batch.jobs.empty()) return FieldError("jobs", "a batch needs at least one job");
  const size_t n = batch.jobs.size();
  std::vector<WorkflowStep> steps;
  for (size_t i = 0; i < n; ++i) {
    WorkflowStep step = std::move(batch.jobs[i]);
    step.key = absl::StrCat(i);
    step.depends_on.clear();
    steps.push_back(std::move(step));
  }
  std::vector<std::string> callbacks;  // in the order they are stored
  auto add_callback = [&](std::optional<WorkflowStep>& cb, const char* key, bool ignore) {
    if (!cb) return;
    callbacks.push_back(key);
    WorkflowStep step = std::move(*cb);
    step.key = key;
    step.depends_on.clear();
    for (size_t i = 0; i < n; ++i) {
      step.depends_on.push_back(
          WorkflowDependency{.key = absl::StrCat(i), .ignore_failure = ignore});
    }
    steps.push_back(std::move(step));
  };
  add_callback(batch.on_complete, "on_complete", true);
  add_callback(batch.on_success, "on_success", false);
  absl::StatusOr<WorkflowEnqueued> wf = EnqueueWorkflow(std::move(steps));
  if (!wf.ok()) return BatchError(wf.status(), n, callbacks);
  BatchEnqueued out{.id = wf->id};
  out.job_ids.assign(wf->job_ids.begin(), wf->job_ids.begin() + static_cast<long>(n));
  size_t next = n;
  if (batch.on_complete) out.on_complete_id = wf->job_ids[next++];
  if (batch.on_success) out.on_success_id = wf->job_ids[next++];
  return out;
}

absl::StatusOr<WorkflowEnqueued> Queue::EnqueueWorkflow(std::vector<WorkflowStep> jobs) {
  return impl_->EnqueueWorkflow(std::move(jobs));
}

absl::StatusOr<Workflow> Queue::GetWorkflow(JobId id) {
  if (!status().ok()) return status();
  return impl_->store()->WorkflowGet(store::WorkflowGetParams{.workflow_id = id});
}

absl::StatusOr<BatchEnqueued> Queue::EnqueueBatch(BatchRequest batch) {
  return impl_->EnqueueBatch(std::move(batch));
}

absl::StatusOr<BatchProgress> Queue::GetBatch(JobId id) {
  absl::StatusOr<Workflow> wf = GetWorkflow(id);
  if (!wf.ok()) {
    if (absl::IsNotFound(wf.status())) {
      return absl::NotFoundError(absl::StrFormat("batch %d not found", id));
    }
    return wf.status();
  }
  // Members have no parents; a callback's edges are all ignore_failure
  // (on_complete) or all normal (on_success).
  BatchProgress out{.id = id};
  for (const Job& job : wf->jobs) {
    if (job.parents.empty()) {
      ++out.total;
      ++out.counts[job.state];
    } else if (job.parents.front().ignore_failure) {
      out.on_complete_id = job.id;
    } else {
      out.on_success_id = job.id;
    }
  }
  auto it = out.counts.find(JobState::kCompleted);
  const int64_t completed = it == out.counts.end() ? 0 : it->second;
  int64_t final_count = 0;
  for (const auto& [state, count] : out.counts) {
    if (IsFinal(state)) final_count += count;
  }
  out.finished = final_count == out.total;
  out.succeeded = completed == out.total;
  return out;
}

}  // namespace popqueue
