// Composition commands: workflow <id> (its jobs, states and edges) and
// batch <id> (its progress). docs/composition.md.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/job_json.h"

namespace popqueue::cli {
namespace {

std::string Edges(const std::vector<JobEdge>& edges) {
  if (edges.empty()) return "-";
  return absl::StrJoin(edges, ",", [](std::string* out, const JobEdge& e) {
    absl::StrAppendFormat(out, "%d%s", e.id, e.ignore_failure ? " (run anyway)" : "");
  });
}

}  // namespace

int RunWorkflow(const Args& args) {
  FlagSet flags("workflow", "<id> [flags]",
                "Shows every job of a workflow with its state and the jobs it waits for.");
  flags.AddBool("json", "print the workflow as JSON");
  int exit_code = kExitOk;
  std::optional<IdCommand> cmd = ParseIdCommand(flags, args, &exit_code);
  if (!cmd) return exit_code;
  absl::StatusOr<Workflow> wf = cmd->queue->GetWorkflow(cmd->id);
  if (!wf.ok()) return JobFailure("workflow", cmd->id, wf.status());
  if (flags.GetBool("json")) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const Job& job : wf->jobs) jobs.push_back(JobToJson(job));
    PrintJson({{"id", absl::StrCat(wf->id)}, {"jobs", std::move(jobs)}});
    return kExitOk;
  }
  std::printf("workflow %lld: %zu jobs\n", static_cast<long long>(wf->id), wf->jobs.size());
  std::printf("%-20s %-10s %-20s %s\n", "ID", "STATE", "NAME", "WAITS FOR");
  for (const Job& job : wf->jobs) {
    std::string state(JobStateName(job.state));
    if (job.waiting_parents > 0 && !IsFinal(job.state)) {
      state = absl::StrFormat("waiting(%d)", job.waiting_parents);
    }
    std::printf("%-20lld %-10s %-20s %s\n", static_cast<long long>(job.id), state.c_str(),
                Printable(job.name, 20).c_str(), Edges(job.parents).c_str());
  }
  return kExitOk;
}

int RunBatch(const Args& args) {
  FlagSet flags("batch", "<id> [flags]", "Shows a batch's progress: its jobs by state.");
  flags.AddBool("json", "print the progress as JSON");
  int exit_code = kExitOk;
  std::optional<IdCommand> cmd = ParseIdCommand(flags, args, &exit_code);
  if (!cmd) return exit_code;
  absl::StatusOr<BatchProgress> b = cmd->queue->GetBatch(cmd->id);
  if (!b.ok()) return JobFailure("batch", cmd->id, b.status());
  nlohmann::json counts = nlohmann::json::object();
  for (JobState s : kAllJobStates) {
    auto it = b->counts.find(s);
    counts[std::string(JobStateName(s))] = it == b->counts.end() ? 0 : it->second;
  }
  if (flags.GetBool("json")) {
    PrintJson({{"id", absl::StrCat(b->id)},
               {"total", b->total},
               {"counts", counts},
               {"finished", b->finished},
               {"succeeded", b->succeeded}});
    return kExitOk;
  }
  std::printf("batch %lld: %lld jobs, %s\n", static_cast<long long>(b->id),
              static_cast<long long>(b->total),
              b->succeeded  ? "all completed"
              : b->finished ? "finished (not all completed)"
                            : "in progress");
  for (const auto& [state, n] : counts.items()) {
    if (n.get<int64_t>() > 0) std::printf("  %-10s %lld\n", state.c_str(), n.get<long long>());
  }
  if (b->on_complete_id != 0)
    std::printf("on_complete job: %lld\n", static_cast<long long>(b->on_complete_id));
  if (b->on_success_id != 0)
    std::printf("on_success job:  %lld\n", static_cast<long long>(b->on_success_id));
  return kExitOk;
}

}  // namespace popqueue::cli
