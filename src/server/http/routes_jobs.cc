// Job routes: the original README's /api/job-details and /api/requeue-job
// (their replies keep the README's names: jobDetails, status, message),
// and the /api/jobs resource (enqueue, batch, list, get, cancel, retry,
// delete) with the dead-letter listing.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "common/job_json.h"
#include "server/http/request_json.h"
#include "server/http/routes.h"

namespace popqueue::server {
namespace {

nlohmann::json EnqueueResultJson(const EnqueueResult& r) {
  return {{"id", absl::StrCat(r.id)},
          {"inserted", r.inserted},
          {"state", std::string(JobStateName(r.state))}};
}

nlohmann::json NextBeforeJson(const JobPage& page) {
  return page.next_before_id ? nlohmann::json(absl::StrCat(*page.next_before_id))
                             : nlohmann::json(nullptr);
}

nlohmann::json PageJson(const JobPage& page) {
  nlohmann::json jobs = nlohmann::json::array();
  for (const Job& job : page.jobs) jobs.push_back(JobToJson(job));
  return {{"jobs", std::move(jobs)}, {"nextBefore", NextBeforeJson(page)}};
}

Reply JobReply(const absl::StatusOr<Job>& job) {
  if (!job.ok()) return ErrorReply(job.status());
  return JsonReply(JobToJson(*job));
}

// A job as the original README's job details: the job with its state also
// under the README's name, "status".
nlohmann::json JobDetailJson(const Job& job) {
  nlohmann::json j = JobToJson(job);
  j["status"] = j["state"];
  return j;
}

// GET /api/job-details: the newest job details, filtered and paginated as
// GET /api/jobs ({"jobDetails": [...], "nextBefore": ...});
// GET /api/job-details?jobId=...: one job.
Reply JobDetails(RouteContext& c) {
  if (!c.request.has_param("jobId")) {
    auto filter = ParseJobFilter(c.request.params);
    if (!filter.ok()) return ErrorReply(filter.status());
    auto page = c.queue->ListJobs(*filter);
    if (!page.ok()) return ErrorReply(page.status());
    nlohmann::json details = nlohmann::json::array();
    for (const Job& job : page->jobs) details.push_back(JobDetailJson(job));
    return JsonReply({{"jobDetails", std::move(details)}, {"nextBefore", NextBeforeJson(*page)}});
  }
  for (const auto& [key, unused] : c.request.params) {
    if (key != "jobId") {
      return ErrorReply(FieldError(key, "not accepted with jobId (which asks for one job)"));
    }
  }
  auto id = ParseJobId(c.request.get_param_value("jobId"), "jobId");
  if (!id.ok()) return ErrorReply(id.status());
  auto job = c.queue->GetJob(*id);
  if (!job.ok()) return ErrorReply(job.status());
  return JsonReply(JobDetailJson(*job));
}

// POST /api/requeue-job {"jobId": "..."}: {"message": "...", "job": {...}}
Reply RequeueJob(RouteContext& c) {
  auto body = ParseJsonObject(c.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  auto it = body->find("jobId");
  if (it == body->end()) return ErrorReply(FieldError("jobId", "required"));
  for (const auto& [key, unused] : body->items()) {
    if (key != "jobId") {
      return ErrorReply(FieldError(key, "unknown field; expected jobId"));
    }
  }
  auto id = JobIdFromJson(*it, "jobId");
  if (!id.ok()) return ErrorReply(id.status());
  auto job = c.queue->Requeue(*id);
  Reply reply = job.ok() ? JsonReply({{"message", RequeuedMessage(*job)}, {"job", JobToJson(*job)}})
                         : ErrorReply(job.status());
  reply.audit = absl::StrCat("job=", *id);
  return reply;
}

// POST /api/jobs
Reply EnqueueJob(RouteContext& c) {
  auto body = ParseJsonObject(c.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  auto request = ParseEnqueueRequest(*body, "");
  if (!request.ok()) return ErrorReply(request.status());
  if (absl::Status s = CheckPayloadSize(*request, c.queue->config().max_payload_bytes, "");
      !s.ok()) {
    return ErrorReply(s);
  }
  std::string name = request->name;
  std::string queue = request->options.queue.empty() ? kDefaultQueue : request->options.queue;
  auto result = c.queue->Enqueue(name, std::move(request->data), request->options);
  if (!result.ok()) return ErrorReply(result.status());
  if (result->inserted) c.metrics->RecordEnqueued(name);
  Reply reply = JsonReply(EnqueueResultJson(*result), result->inserted ? 201 : 200);
  reply.headers.emplace_back("Location", absl::StrCat("/api/jobs/", result->id));
  reply.audit = AuditTarget({static_cast<int64_t>(result->id)}, {queue});
  return reply;
}

// POST /api/jobs/batch {"jobs": [...]}: all or nothing.
Reply EnqueueBatch(RouteContext& c) {
  auto body = ParseJsonObject(c.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  for (const auto& [key, unused] : body->items()) {
    if (key != "jobs") {
      return ErrorReply(FieldError(key, "unknown field; expected jobs"));
    }
  }
  auto it = body->find("jobs");
  if (it == body->end()) return ErrorReply(FieldError("jobs", "required"));
  if (!it->is_array()) {
    return ErrorReply(FieldError("jobs", "must be an array of jobs"));
  }
  if (it->empty() || it->size() > kMaxBatchJobs) {
    return ErrorReply(FieldError("jobs", absl::StrCat("must hold 1-", kMaxBatchJobs, " jobs")));
  }
  std::vector<EnqueueRequest> requests;
  requests.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    std::string prefix = absl::StrCat("jobs[", i, "].");
    auto r = ParseEnqueueRequest((*it)[i], prefix);
    if (!r.ok()) return ErrorReply(r.status());
    if (absl::Status s = CheckPayloadSize(*r, c.queue->config().max_payload_bytes, prefix);
        !s.ok()) {
      return ErrorReply(s);
    }
    requests.push_back(std::move(*r));
  }
  std::vector<std::string> names;
  std::vector<std::string> queues;
  names.reserve(requests.size());
  for (const EnqueueRequest& r : requests) {
    names.push_back(r.name);
    queues.push_back(r.options.queue.empty() ? kDefaultQueue : r.options.queue);
  }
  auto results = c.queue->EnqueueMany(std::move(requests));
  if (!results.ok()) {
    // A single-job batch gets the Queue's unprefixed message; name the item.
    if (names.size() == 1 && absl::IsInvalidArgument(results.status())) {
      return ErrorReply(PrefixField(results.status(), "jobs[0]."));
    }
    return ErrorReply(results.status());
  }
  nlohmann::json out = nlohmann::json::array();
  bool any_inserted = false;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < results->size(); ++i) {
    if ((*results)[i].inserted) {
      c.metrics->RecordEnqueued(names[i]);
      any_inserted = true;
    }
    ids.push_back((*results)[i].id);
    out.push_back(EnqueueResultJson((*results)[i]));
  }
  Reply reply = JsonReply({{"results", std::move(out)}}, any_inserted ? 201 : 200);
  reply.audit = AuditTarget(ids, queues);
  return reply;
}

// GET /api/jobs?state=&name=&queue=&identifier=&limit=&before=
Reply ListJobs(RouteContext& c) {
  auto filter = ParseJobFilter(c.request.params);
  if (!filter.ok()) return ErrorReply(filter.status());
  auto page = c.queue->ListJobs(*filter);
  if (!page.ok()) return ErrorReply(page.status());
  return JsonReply(PageJson(*page));
}

// GET /api/dead-letter?name=&queue=&identifier=&limit=&before=
Reply ListDead(RouteContext& c) {
  if (c.request.has_param("state")) {
    return ErrorReply(
        FieldError("state", "not accepted here: the dead-letter list holds dead jobs only"));
  }
  auto filter = ParseJobFilter(c.request.params);
  if (!filter.ok()) return ErrorReply(filter.status());
  filter->states = {JobState::kDead};
  auto page = c.queue->ListJobs(*filter);
  if (!page.ok()) return ErrorReply(page.status());
  return JsonReply(PageJson(*page));
}

// GET /api/jobs/{id}
Reply GetJob(RouteContext& c) {
  auto id = ParseJobId(c.params[0], "id");
  if (!id.ok()) return ErrorReply(id.status());
  return JobReply(c.queue->GetJob(*id));
}

// POST /api/jobs/{id}/cancel
Reply CancelJob(RouteContext& c) {
  auto id = ParseJobId(c.params[0], "id");
  if (!id.ok()) return ErrorReply(id.status());
  return JobReply(c.queue->Cancel(*id));
}

// POST /api/jobs/{id}/retry
Reply RetryJob(RouteContext& c) {
  auto id = ParseJobId(c.params[0], "id");
  if (!id.ok()) return ErrorReply(id.status());
  return JobReply(c.queue->Requeue(*id));
}

// DELETE /api/jobs/{id}
Reply DeleteJob(RouteContext& c) {
  auto id = ParseJobId(c.params[0], "id");
  if (!id.ok()) return ErrorReply(id.status());
  if (absl::Status s = c.queue->Delete(*id); !s.ok()) return ErrorReply(s);
  return JsonReply({{"id", absl::StrCat(*id)}, {"deleted", true}});
}

}  // namespace

std::vector<Route> JobRoutes() {
  return {
      {"GET", "/api/job-details", Scope::kRead, false, JobDetails},
      {"POST", "/api/requeue-job", Scope::kAdmin, true, RequeueJob},
      {"POST", "/api/jobs", Scope::kWrite, true, EnqueueJob},
      {"POST", "/api/jobs/batch", Scope::kWrite, true, EnqueueBatch},
      {"GET", "/api/jobs", Scope::kRead, false, ListJobs},
      {"GET", "/api/jobs/{id}", Scope::kRead, false, GetJob},
      {"POST", "/api/jobs/{id}/cancel", Scope::kAdmin, false, CancelJob},
      {"POST", "/api/jobs/{id}/retry", Scope::kAdmin, false, RetryJob},
      {"DELETE", "/api/jobs/{id}", Scope::kAdmin, false, DeleteJob},
      {"GET", "/api/dead-letter", Scope::kRead, false, ListDead},
  };
}

}  // namespace popqueue::server
