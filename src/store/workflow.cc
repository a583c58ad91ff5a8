#include "store/workflow.h"

#include <cstddef>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/field_error.h"
#include "store/validate.h"

namespace popqueue::store {

absl::Status ValidateWorkflow(const WorkflowInsertParams& params) {
  if (params.workflow_id <= 0) {
    return FieldError("workflow_id",
                      absl::StrFormat("must be positive, got %d", params.workflow_id));
  }
  if (params.jobs.empty()) return FieldError("jobs", "a workflow needs at least one job");
  if (params.workflow_id != params.jobs[0].job.id) {
    return FieldError("workflow_id", absl::StrFormat("must be jobs[0].id (%d), got %d",
                                                     params.jobs[0].job.id, params.workflow_id));
  }
  const int n = static_cast<int>(params.jobs.size());
  for (int i = 0; i < n; ++i) {
    const WorkflowJob& wj = params.jobs[i];
    const std::string prefix = absl::StrFormat("jobs[%d].", i);
    if (absl::Status s = ValidateNewJob(wj.job); !s.ok()) return PrefixField(s, prefix);
    if (!wj.job.identifier.empty()) {
      return FieldError(prefix + "identifier", "workflow jobs cannot carry an identifier");
    }
    std::set<int> seen;
    for (size_t k = 0; k < wj.depends_on.size(); ++k) {
      const int p = wj.depends_on[k].index;
      const std::string field = absl::StrFormat("%sdepends_on[%d]", prefix, k);
      if (p < 0 || p >= n) {
        return FieldError(field, absl::StrFormat("no job %d in this workflow (it has %d)", p, n));
      }
      if (p == i) return FieldError(field, "a job cannot depend on itself");
      if (!seen.insert(p).second) {
        return FieldError(field, absl::StrFormat("depends on jobs[%d] twice", p));
      }
    }
  }
  // Cycle check: depth-first, colouring 0 = new, 1 = on the path, 2 = done.
  std::vector<int> colour(n, 0);
  for (int root = 0; root < n; ++root) {
    if (colour[root] != 0) continue;
    std::vector<std::pair<int, size_t>> stack = {{root, 0}};
    colour[root] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const auto& deps = params.jobs[node].depends_on;
      if (next == deps.size()) {
        colour[node] = 2;
        stack.pop_back();
        continue;
      }
      const size_t k = next++;
      const int p = deps[k].index;
      if (colour[p] == 1) {
        return FieldError(absl::StrFormat("jobs[%d].depends_on[%d]", node, k),
                          absl::StrFormat("jobs[%d] is already waiting for jobs[%d]: the "
                                          "dependencies form a cycle",
                                          p, node));
      }
      if (colour[p] == 0) {
        colour[p] = 1;
        stack.emplace_back(p, 0);
      }
    }
  }
  return absl::OkStatus();
}

std::vector<WorkflowRow> PlanWorkflow(const WorkflowInsertParams& params) {
  std::vector<WorkflowRow> rows(params.jobs.size());
  for (size_t i = 0; i < params.jobs.size(); ++i) {
    const WorkflowJob& wj = params.jobs[i];
    WorkflowRow& row = rows[i];
    row.job = wj.job;
    for (const WorkflowParent& p : wj.depends_on) {
      row.parents.push_back(
          JobEdge{.id = params.jobs[p.index].job.id, .ignore_failure = p.ignore_failure});
      rows[p.index].dependants.push_back(
          JobEdge{.id = wj.job.id, .ignore_failure = p.ignore_failure});
    }
  }
  for (WorkflowRow& row : rows) {
    if (!row.parents.empty()) {
      row.job.run_at = kWaitingForParents;
      row.state = JobState::kScheduled;
    } else {
      row.state = row.job.run_at > params.now ? JobState::kScheduled : JobState::kAvailable;
    }
  }
  return rows;
}

std::string EncodeEdges(const std::vector<JobEdge>& edges) {
  std::string out;
  for (const JobEdge& e : edges) {
    if (!out.empty()) out += ',';
    absl::StrAppendFormat(&out, "%d%s", e.id, e.ignore_failure ? "~" : "");
  }
  return out;
}

absl::StatusOr<std::vector<JobEdge>> DecodeEdges(std::string_view text) {
  std::vector<JobEdge> out;
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    JobEdge e;
    if (!part.empty() && part.back() == '~') {
      e.ignore_failure = true;
      part.remove_suffix(1);
    }
    if (!absl::SimpleAtoi(part, &e.id) || e.id <= 0) {
      return absl::InternalError(absl::StrFormat("corrupt stored edge list \"%s\"", text));
    }
    out.push_back(e);
  }
  return out;
}

std::string ParentFailedMessage(JobId parent) {
  return absl::StrFormat("cancelled: parent job %d ended dead or cancelled", parent);
}

}  // namespace popqueue::store
