// Workflow and batch routes (docs/composition.md, docs/rest.md):
//   POST /api/workflows {"jobs": [{key, dependsOn, ...job fields}]}
//   GET  /api/workflows/{id}
//   POST /api/batches {"jobs": [...], "onComplete": {...}, "onSuccess": {...}}
//   GET  /api/batches/{id}
// The body is parsed whole before the Queue is called, and the Queue stores
// every job or none, so a bad request never leaves a partial workflow.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "common/job_json.h"
#include "popqueue/workflow.h"
#include "server/http/request_json.h"
#include "server/http/routes.h"

namespace popqueue::server {
namespace {

// One edge of dependsOn: a key, or {"key": ..., "ignoreFailure": bool}.
absl::StatusOr<WorkflowDependency> ParseDependency(const nlohmann::json& d,
                                                   const std::string& field) {
  if (d.is_string()) return WorkflowDependency{.key = d.get<std::string>()};
  if (!d.is_object()) {
    return FieldError(field, "must be a key or {\"key\": ..., \"ignoreFailure\": bool}");
  }
  WorkflowDependency dep;
  auto key = d.find("key");
  if (key == d.end() || !key->is_string()) return FieldError(field + ".key", "required, a string");
  dep.key = key->get<std::string>();
  for (const auto& [name, value] : d.items()) {
    if (name == "key") continue;
    if (name != "ignoreFailure") {
      return FieldError(field + "." + name, "unknown field; expected key, ignoreFailure");
    }
    if (!value.is_boolean()) return FieldError(field + ".ignoreFailure", "must be a boolean");
    dep.ignore_failure = value.get<bool>();
  }
  return dep;
}

// One job: the fields of POST /api/jobs, plus key and dependsOn when
// `edges` (a workflow's jobs; a batch's have none). `prefix` is "jobs[2]."
// or "onComplete.".
absl::StatusOr<WorkflowStep> ParseStep(const nlohmann::json& item, const std::string& prefix,
                                       size_t max_payload, bool edges) {
  if (!item.is_object())
    return FieldError(prefix.substr(0, prefix.size() - 1), "must be an object");
  nlohmann::json fields = item;
  WorkflowStep step;
  if (edges) {
    if (auto it = fields.find("key"); it != fields.end()) {
      if (!it->is_string()) return FieldError(prefix + "key", "must be a string");
      step.key = it->get<std::string>();
      fields.erase(it);
    }
    if (auto it = fields.find("dependsOn"); it != fields.end()) {
      if (!it->is_array()) return FieldError(prefix + "dependsOn", "must be an array of keys");
      for (size_t k = 0; k < it->size(); ++k) {
        auto dep = ParseDependency((*it)[k], absl::StrCat(prefix, "dependsOn[", k, "]"));
        if (!dep.ok()) return dep.status();
        step.depends_on.push_back(std::move(*dep));
      }
      fields.erase(it);
    }
  }
  auto request = ParseEnqueueRequest(fields, prefix);
  if (!request.ok()) return request.status();
  if (absl::Status s = CheckPayloadSize(*request, max_payload, prefix); !s.ok()) return s;
  step.name = std::move(request->name);
  step.data = std::move(request->data);
  step.options = std::move(request->options);
  return step;
}

absl::StatusOr<std::vector<WorkflowStep>> ParseSteps(const nlohmann::json& body, size_t max_payload,
                                                     bool edges) {
  auto it = body.find("jobs");
  if (it == body.end()) return FieldError("jobs", "required");
  if (!it->is_array()) return FieldError("jobs", "must be an array of jobs");
  if (it->empty() || it->size() > kMaxWorkflowJobs) {
    return FieldError("jobs",
                      absl::StrCat("must hold 1-", kMaxWorkflowJobs, " jobs, got ", it->size()));
  }
  std::vector<WorkflowStep> steps;
  steps.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    auto step = ParseStep((*it)[i], absl::StrCat("jobs[", i, "]."), max_payload, edges);
    if (!step.ok()) return step.status();
    steps.push_back(std::move(*step));
  }
  return steps;
}

nlohmann::json IdsJson(const std::vector<JobId>& ids) {
  nlohmann::json out = nlohmann::json::array();
  for (JobId id : ids) out.push_back(absl::StrCat(id));
  return out;
}

nlohmann::json OptionalId(JobId id) {
  return id != 0 ? nlohmann::json(absl::StrCat(id)) : nlohmann::json(nullptr);
}

// The name and queue of each job, kept for the metrics and the audit line
// before the Queue takes the steps.
struct Described {
  std::vector<std::string> names;
  std::vector<std::string> queues;
  void Add(const WorkflowStep& step) {
    names.push_back(step.name);
    queues.push_back(step.options.queue.empty() ? kDefaultQueue : step.options.queue);
  }
};

// Counts every enqueued job in the metrics and returns the audit target:
// "workflow=ID jobs=N ids=... queues=...".
std::string RecordEnqueued(RouteContext& c, std::string_view kind, JobId id,
                           const std::vector<JobId>& ids, const Described& jobs) {
  for (const std::string& name : jobs.names) c.metrics->RecordEnqueued(name);
  return absl::StrCat(absl::string_view(kind.data(), kind.size()), "=", id, " ",
                      AuditTarget(std::vector<int64_t>(ids.begin(), ids.end()), jobs.queues));
}

// POST /api/workflows
Reply EnqueueWorkflow(RouteContext& c) {
  auto body = ParseJsonObject(c.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  for (const auto& [key, unused] : body->items()) {
    if (key != "jobs") return ErrorReply(FieldError(key, "unknown field; expected jobs"));
  }
  auto steps = ParseSteps(*body, c.queue->config().max_payload_bytes, true);
  if (!steps.ok()) return ErrorReply(steps.status());
  Described described;
  for (const WorkflowStep& step : *steps) described.Add(step);
  auto wf = c.queue->EnqueueWorkflow(std::move(*steps));
  if (!wf.ok()) return ErrorReply(wf.status());
  Reply reply = JsonReply({{"id", absl::StrCat(wf->id)}, {"jobIds", IdsJson(wf->job_ids)}}, 201);
  reply.headers.emplace_back("Location", absl::StrCat("/api/workflows/", wf->id));
  reply.audit = RecordEnqueued(c, "workflow", wf->id, wf->job_ids, described);
  return reply;
}

// GET /api/workflows/{id}: every job with its state and edges.
Reply GetWorkflow(RouteContext& c) {
  auto id = ParseJobId(c.params[0], "id");
  if (!id.ok()) return ErrorReply(id.status());
  auto wf = c.queue->GetWorkflow(*id);
  if (!wf.ok()) return ErrorReply(wf.status());
  nlohmann::json jobs = nlohmann::json::array();
  for (const Job& job : wf->jobs) jobs.push_back(JobToJson(job));
  return JsonReply({{"id", absl::StrCat(wf->id)}, {"jobs", std::move(jobs)}});
}

// POST /api/batches
Reply EnqueueBatch(RouteContext& c) {
  auto body = ParseJsonObject(c.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  for (const auto& [key, unused] : body->items()) {
    if (key != "jobs" && key != "onComplete" && key != "onSuccess") {
      return ErrorReply(FieldError(key, "unknown field; expected jobs, onComplete, onSuccess"));
    }
  }
  const size_t max_payload = c.queue->config().max_payload_bytes;
  auto steps = ParseSteps(*body, max_payload, false);
  if (!steps.ok()) return ErrorReply(steps.status());
  BatchRequest batch{.jobs = std::move(*steps)};
  for (auto [field, target] :
       {std::pair{"onComplete", &batch.on_complete}, std::pair{"onSuccess", &batch.on_success}}) {
    auto it = body->find(field);
    if (it == body->end() || it->is_null()) continue;
    auto step = ParseStep(*it, absl::StrCat(field, "."), max_payload, false);
    if (!step.ok()) return ErrorReply(step.status());
    *target = std::move(*step);
  }
  Described described;  // in the order of the ids below
  for (const WorkflowStep& step : batch.jobs) described.Add(step);
  for (const auto* cb : {&batch.on_complete, &batch.on_success}) {
    if (*cb) described.Add(**cb);
  }
  auto b = c.queue->EnqueueBatch(std::move(batch));
  if (!b.ok()) return ErrorReply(b.status());
  std::vector<JobId> ids = b->job_ids;
  for (JobId cb : {b->on_complete_id, b->on_success_id}) {
    if (cb != 0) ids.push_back(cb);
  }
  Reply reply = JsonReply({{"id", absl::StrCat(b->id)},
                           {"jobIds", IdsJson(b->job_ids)},
                           {"onCompleteId", OptionalId(b->on_complete_id)},
                           {"onSuccessId", OptionalId(b->on_success_id)}},
                          201);
  reply.headers.emplace_back("Location", absl::StrCat("/api/batches/", b->id));
  reply.audit = RecordEnqueued(c, "batch", b->id, ids, described);
  return reply;
}

// GET /api/batches/{id}: the members' counts by state.
Reply GetBatch(RouteContext& c) {
  auto id = ParseJobId(c.params[0], "id");
  if (!id.ok()) return ErrorReply(id.status());
  auto b = c.queue->GetBatch(*id);
  if (!b.ok()) return ErrorReply(b.status());
  nlohmann::json counts = nlohmann::json::object();
  for (JobState s : kAllJobStates) {
    auto it = b->counts.find(s);
    counts[std::string(JobStateName(s))] = it == b->counts.end() ? 0 : it->second;
  }
  return JsonReply({{"id", absl::StrCat(b->id)},
                    {"total", b->total},
                    {"counts", std::move(counts)},
                    {"finished", b->finished},
                    {"succeeded", b->succeeded},
                    {"onCompleteId", OptionalId(b->on_complete_id)},
                    {"onSuccessId", OptionalId(b->on_success_id)}});
}

}  // namespace

std::vector<Route> WorkflowRoutes() {
  // Enqueueing needs what POST /api/jobs needs (write); reads need read.
  return {
      {"POST", "/api/workflows", Scope::kWrite, true, EnqueueWorkflow},
      {"GET", "/api/workflows/{id}", Scope::kRead, false, GetWorkflow},
      {"POST", "/api/batches", Scope::kWrite, true, EnqueueBatch},
      {"GET", "/api/batches/{id}", Scope::kRead, false, GetBatch},
  };
}

}  // namespace popqueue::server
