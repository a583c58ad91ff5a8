#include "server/grpc/service.h"

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/field_error.h"
#include "common/job_json.h"
#include "server/grpc/auth.h"
#include "server/grpc/convert.h"

namespace popqueue::server {
namespace {

constexpr int kMaxBatch = 1000;
constexpr int kMaxLeaseSeconds = 24 * 3600;
const int kDefaultPageSize = JobFilter{}.limit;  // 50 (JobFilter is no literal type)

// Returns from the handler with the gRPC form of a non-OK absl status.
#define POPQUEUE_RETURN_IF_ERROR(expr)                                     \
  do {                                                                     \
    if (absl::Status pq_s = (expr); !pq_s.ok()) return ToGrpcStatus(pq_s); \
  } while (0)

absl::StatusOr<absl::Duration> LeaseFromSeconds(int seconds) {
  if (seconds < 0 || seconds > kMaxLeaseSeconds) {
    return absl::InvalidArgumentError(
        absl::StrFormat("lease_seconds: must be 0 (the server's default) or 1-%d, got %d",
                        kMaxLeaseSeconds, seconds));
  }
  return absl::Seconds(seconds);  // 0 = the default
}

// The listing filter of ListJobs and GetJobDetails (the same fields in both
// requests). limit 0 is the default page; the Queue checks the range.
absl::StatusOr<JobFilter> FilterFromRequest(
    const google::protobuf::RepeatedPtrField<std::string>& states, const std::string& queue,
    const std::string& name, const std::string& identifier, const std::string& before_id,
    int32_t limit) {
  JobFilter filter{.queue = queue,
                   .name = name,
                   .identifier = identifier,
                   .limit = limit == 0 ? kDefaultPageSize : limit};
  for (int i = 0; i < states.size(); ++i) {
    auto state = ParseJobState(states[i]);
    if (!state.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("states[%d]: %s", i, std::string(state.status().message())));
    }
    filter.states.push_back(*state);
  }
  if (!before_id.empty()) {
    auto before = ParseRpcJobId(before_id, "before_id");
    if (!before.ok()) return before.status();
    filter.before_id = *before;
  }
  return filter;
}

// Too large a payload is a resource limit (RESOURCE_EXHAUSTED, as REST's
// 413), not a malformed request.
absl::Status CheckPayloadSize(const std::string& data, size_t limit, const std::string& field) {
  if (data.size() <= limit) return absl::OkStatus();
  return FieldError(
      field,
      absl::StrFormat("payload of %d bytes exceeds the limit of %d bytes", data.size(), limit),
      absl::StatusCode::kResourceExhausted);
}

absl::Status CheckJobCount(int n) {
  if (n >= 1 && static_cast<size_t>(n) <= kMaxWorkflowJobs) return absl::OkStatus();
  return FieldError("jobs", absl::StrFormat("must hold 1-%d jobs, got %d", kMaxWorkflowJobs, n));
}

std::string QueueOf(const WorkflowStep& step) {
  return step.options.queue.empty() ? std::string(kDefaultQueue) : step.options.queue;
}

// The caller's IP address from gRPC's peer string ("ipv4:10.0.0.7:52144",
// "ipv6:[::1]:52144", "ipv6:%5B::1%5D:52144"), for the worker registry;
// other transports (unix:...) as given.
std::string PeerAddress(const grpc::ServerContext& context) {
  std::string peer = context.peer();
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (!absl::StartsWith(peer, scheme)) continue;
    std::string rest =
        absl::StrReplaceAll(peer.substr(scheme.size()), {{"%5B", "["}, {"%5D", "]"}});
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos) rest.resize(colon);
    if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') {
      rest = rest.substr(1, rest.size() - 2);
    }
    return rest;
  }
  return peer;
}

}  // namespace

template <typename Body>
grpc::Status PopQueueService::Call(const grpc::ServerContext& context, std::string_view method,
                                   Body&& body) {
  std::string who;
  absl::StatusOr<Caller> caller = AuthorizeRpc(context, access_, method, &who);
  std::string audit;
  grpc::Status status = caller.ok() ? body(&audit) : ToGrpcStatus(caller.status());
  std::optional<Scope> scope = ScopeOfRpc(method);
  if (!scope || *scope >= Scope::kWrite) {
    LogAudit(who, "grpc " + std::string(method),
             absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), audit);
  }
  return status;
}

grpc::Status PopQueueService::GetJobDetails(grpc::ServerContext* context,
                                            const JobDetailsRequest* request,
                                            JobDetailsResponse* response) {
  return Call(*context, "GetJobDetails", [&](std::string* audit) -> grpc::Status {
    if (!request->jobid().empty()) {
      // One job: the other fields would filter it away or page past it.
      if (request->states_size() > 0 || !request->queue().empty() || !request->name().empty() ||
          !request->identifier().empty() || request->limit() != 0 ||
          !request->before_id().empty()) {
        return ToGrpcStatus(absl::InvalidArgumentError(
            "jobId: asks for one job; leave states, queue, name, identifier, limit and before_id "
            "unset with it"));
      }
      auto id = ParseRpcJobId(request->jobid(), "jobId");
      POPQUEUE_RETURN_IF_ERROR(id.status());
      auto job = queue_->GetJob(*id);
      POPQUEUE_RETURN_IF_ERROR(job.status());
      ToJobDetail(*job, response->add_jobdetails());
      return grpc::Status::OK;
    }
    auto filter = FilterFromRequest(request->states(), request->queue(), request->name(),
                                    request->identifier(), request->before_id(), request->limit());
    POPQUEUE_RETURN_IF_ERROR(filter.status());
    auto page = queue_->ListJobs(*filter);
    POPQUEUE_RETURN_IF_ERROR(page.status());
    for (const Job& job : page->jobs) ToJobDetail(job, response->add_jobdetails());
    if (page->next_before_id) response->set_next_before_id(std::to_string(*page->next_before_id));
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::RequeueJob(grpc::ServerContext* context,
                                         const RequeueJobRequest* request,
                                         RequeueJobResponse* response) {
  return Call(*context, "RequeueJob", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->jobid(), "jobId");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    *audit = absl::StrCat("job=", *id);
    auto job = queue_->Requeue(*id);
    POPQUEUE_RETURN_IF_ERROR(job.status());
    response->set_message(RequeuedMessage(*job));
    ToProto(*job, response->mutable_job());
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::Enqueue(grpc::ServerContext* context,
                                      const EnqueueJobsRequest* request,
                                      EnqueueJobsResponse* response) {
  return Call(*context, "Enqueue", [&](std::string* audit) -> grpc::Status {
    int n = request->jobs_size();
    if (n < 1 || n > kMaxBatch) {
      return ToGrpcStatus(
          FieldError("jobs", absl::StrFormat("must hold 1-%d jobs, got %d", kMaxBatch, n)));
    }
    std::vector<EnqueueRequest> requests;
    requests.reserve(n);
    for (int i = 0; i < n; ++i) {
      auto r = FromProto(request->jobs(i), absl::StrFormat("jobs[%d]", i));
      POPQUEUE_RETURN_IF_ERROR(r.status());
      POPQUEUE_RETURN_IF_ERROR(CheckPayloadSize(r->data, queue_->config().max_payload_bytes,
                                                absl::StrFormat("jobs[%d].data", i)));
      requests.push_back(std::move(*r));
    }
    auto results = queue_->EnqueueMany(std::move(requests));
    if (!results.ok()) {
      // The Queue names the field without the index for a single job; the
      // request's field is always jobs[i].
      if (n == 1 && absl::IsInvalidArgument(results.status())) {
        return ToGrpcStatus(PrefixField(results.status(), "jobs[0]."));
      }
      return ToGrpcStatus(results.status());
    }
    std::vector<int64_t> ids;
    std::vector<std::string> queues;
    for (int i = 0; i < n; ++i) {
      queues.push_back(request->jobs(i).queue().empty() ? kDefaultQueue : request->jobs(i).queue());
    }
    for (const EnqueueResult& r : *results) {
      ids.push_back(r.id);
      EnqueuedJob* out = response->add_results();
      out->set_id(std::to_string(r.id));
      out->set_inserted(r.inserted);
      out->set_state(std::string(JobStateName(r.state)));
    }
    *audit = AuditTarget(ids, queues);
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::GetJob(grpc::ServerContext* context, const GetJobRequest* request,
                                     JobRecord* response) {
  return Call(*context, "GetJob", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->job_id(), "job_id");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    auto job = queue_->GetJob(*id);
    POPQUEUE_RETURN_IF_ERROR(job.status());
    ToProto(*job, response);
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::ListJobs(grpc::ServerContext* context, const ListJobsRequest* request,
                                       ListJobsResponse* response) {
  return Call(*context, "ListJobs", [&](std::string* audit) -> grpc::Status {
    auto filter = FilterFromRequest(request->states(), request->queue(), request->name(),
                                    request->identifier(), request->before_id(), request->limit());
    POPQUEUE_RETURN_IF_ERROR(filter.status());
    auto page = queue_->ListJobs(*filter);
    POPQUEUE_RETURN_IF_ERROR(page.status());
    for (const Job& job : page->jobs) ToProto(job, response->add_jobs());
    if (page->next_before_id) response->set_next_before_id(std::to_string(*page->next_before_id));
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::CancelJob(grpc::ServerContext* context,
                                        const CancelJobRequest* request, JobRecord* response) {
  return Call(*context, "CancelJob", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->job_id(), "job_id");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    *audit = absl::StrCat("job=", *id);
    auto job = queue_->Cancel(*id);
    POPQUEUE_RETURN_IF_ERROR(job.status());
    ToProto(*job, response);
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::FetchJobs(grpc::ServerContext* context,
                                        const FetchJobsRequest* request,
                                        FetchJobsResponse* response) {
  return Call(*context, "FetchJobs", [&](std::string* audit) -> grpc::Status {
    auto lease = LeaseFromSeconds(request->lease_seconds());
    POPQUEUE_RETURN_IF_ERROR(lease.status());
    FetchJobsParams params{.queues = {request->queues().begin(), request->queues().end()},
                           .worker_id = request->worker_id(),
                           .limit = request->limit() == 0 ? 1 : request->limit(),
                           .lease = *lease,
                           .address = PeerAddress(*context),
                           .cancelled = [context] { return context->IsCancelled(); }};
    if (request->has_wait()) {
      auto wait = FromDuration(request->wait(), "wait");
      POPQUEUE_RETURN_IF_ERROR(wait.status());
      params.wait = *wait;
    }
    auto jobs = remote_.FetchJobs(params);
    POPQUEUE_RETURN_IF_ERROR(jobs.status());
    for (const Job& job : *jobs) {
      LeasedJob* out = response->add_jobs();
      ToProto(job, out->mutable_job());
      out->set_lease_token(std::to_string(job.lease_token));
      if (job.lease_expires_at) ToTimestamp(*job.lease_expires_at, out->mutable_lease_expires_at());
    }
    std::vector<int64_t> ids;
    for (const Job& job : *jobs) ids.push_back(job.id);
    *audit = absl::StrCat("worker=", absl::CHexEscape(request->worker_id()), " ",
                          ids.empty() ? std::string("jobs=0") : AuditTarget(ids, {}));
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::CompleteJob(grpc::ServerContext* context,
                                          const CompleteJobRequest* request,
                                          CompleteJobResponse* response) {
  return Call(*context, "CompleteJob", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->job_id(), "job_id");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    *audit = absl::StrCat("job=", *id);
    auto token = ParseLeaseToken(request->lease_token(), "lease_token");
    POPQUEUE_RETURN_IF_ERROR(token.status());
    std::optional<std::string> result;
    if (request->has_result()) result = request->result().value();
    return ToGrpcStatus(remote_.CompleteJob(*id, *token, std::move(result)));
  });
}

grpc::Status PopQueueService::FailJob(grpc::ServerContext* context, const FailJobRequest* request,
                                      FailJobResponse* response) {
  return Call(*context, "FailJob", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->job_id(), "job_id");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    *audit = absl::StrCat("job=", *id);
    auto token = ParseLeaseToken(request->lease_token(), "lease_token");
    POPQUEUE_RETURN_IF_ERROR(token.status());
    const int asks =
        int{request->no_retry()} + int{request->has_snooze()} + int{request->discard()};
    if (asks > 1) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("no_retry, snooze, discard: at most one may be set, got ", asks)));
    }
    absl::StatusOr<FailJobOutcome> outcome;
    if (request->has_snooze()) {
      auto snooze = FromDuration(request->snooze(), "snooze");
      POPQUEUE_RETURN_IF_ERROR(snooze.status());
      outcome = remote_.SnoozeJob(*id, *token, *snooze);
    } else if (request->discard()) {
      outcome = remote_.DiscardJob(*id, *token, request->error());
    } else {
      outcome = remote_.FailJob(*id, *token, request->error(), !request->no_retry());
    }
    POPQUEUE_RETURN_IF_ERROR(outcome.status());
    response->set_state(std::string(JobStateName(outcome->state)));
    if (outcome->state == JobState::kRetryable || outcome->state == JobState::kScheduled) {
      ToTimestamp(outcome->next_run_at, response->mutable_next_run_at());
    }
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::Heartbeat(grpc::ServerContext* context,
                                        const HeartbeatRequest* request,
                                        HeartbeatResponse* response) {
  return Call(*context, "Heartbeat", [&](std::string* audit) -> grpc::Status {
    auto lease = LeaseFromSeconds(request->lease_seconds());
    POPQUEUE_RETURN_IF_ERROR(lease.status());
    std::vector<RemoteHeartbeatItem> items;
    items.reserve(request->items_size());
    for (int i = 0; i < request->items_size(); ++i) {
      const HeartbeatItem& in = request->items(i);
      auto id = ParseRpcJobId(in.job_id(), absl::StrFormat("items[%d].job_id", i));
      POPQUEUE_RETURN_IF_ERROR(id.status());
      auto token = ParseLeaseToken(in.lease_token(), absl::StrFormat("items[%d].lease_token", i));
      POPQUEUE_RETURN_IF_ERROR(token.status());
      RemoteHeartbeatItem item{.id = *id, .lease_token = *token};
      if (in.has_progress()) item.progress = in.progress().value();
      items.push_back(item);
    }
    std::vector<int64_t> ids;
    for (const RemoteHeartbeatItem& item : items) ids.push_back(item.id);
    if (!ids.empty()) *audit = AuditTarget(ids, {});
    auto beat = remote_.Heartbeat(items, *lease, request->worker_id(), PeerAddress(*context));
    POPQUEUE_RETURN_IF_ERROR(beat.status());
    for (JobId id : beat->extended) response->add_extended_ids(std::to_string(id));
    for (JobId id : beat->cancel_requested) response->add_cancel_requested_ids(std::to_string(id));
    for (JobId id : beat->lost) response->add_lost_ids(std::to_string(id));
    for (JobId id : beat->stop) response->add_stop_ids(std::to_string(id));
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::RegisterWorker(grpc::ServerContext* context,
                                             const RegisterWorkerRequest* request,
                                             RegisterWorkerResponse* response) {
  return Call(*context, "RegisterWorker", [&](std::string* audit) -> grpc::Status {
    *audit = absl::StrCat("worker=", absl::CHexEscape(request->worker_id()));
    RemoteWorkerRegistration r{.worker_id = request->worker_id(),
                               .queues = {request->queues().begin(), request->queues().end()},
                               .host = request->host(),
                               .pid = request->pid(),
                               .address = PeerAddress(*context)};
    return ToGrpcStatus(remote_.RegisterWorker(r));
  });
}

grpc::Status PopQueueService::DeregisterWorker(grpc::ServerContext* context,
                                               const DeregisterWorkerRequest* request,
                                               DeregisterWorkerResponse* response) {
  return Call(*context, "DeregisterWorker", [&](std::string* audit) -> grpc::Status {
    *audit = absl::StrCat("worker=", absl::CHexEscape(request->worker_id()));
    return ToGrpcStatus(remote_.DeregisterWorker(request->worker_id()));
  });
}

grpc::Status PopQueueService::EnqueueWorkflow(grpc::ServerContext* context,
                                              const EnqueueWorkflowRequest* request,
                                              EnqueueWorkflowResponse* response) {
  return Call(*context, "EnqueueWorkflow", [&](std::string* audit) -> grpc::Status {
    POPQUEUE_RETURN_IF_ERROR(CheckJobCount(request->jobs_size()));
    std::vector<WorkflowStep> steps;
    std::vector<std::string> queues;
    steps.reserve(request->jobs_size());
    for (int i = 0; i < request->jobs_size(); ++i) {
      const std::string field = absl::StrFormat("jobs[%d]", i);
      auto step = FromProto(request->jobs(i), field);
      POPQUEUE_RETURN_IF_ERROR(step.status());
      POPQUEUE_RETURN_IF_ERROR(
          CheckPayloadSize(step->data, queue_->config().max_payload_bytes, field + ".data"));
      queues.push_back(QueueOf(*step));
      steps.push_back(std::move(*step));
    }
    auto wf = queue_->EnqueueWorkflow(std::move(steps));
    POPQUEUE_RETURN_IF_ERROR(wf.status());
    response->set_id(std::to_string(wf->id));
    for (JobId id : wf->job_ids) response->add_job_ids(std::to_string(id));
    *audit = absl::StrCat("workflow=", wf->id, " ",
                          AuditTarget({wf->job_ids.begin(), wf->job_ids.end()}, queues));
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::GetWorkflow(grpc::ServerContext* context,
                                          const GetWorkflowRequest* request,
                                          WorkflowRecord* response) {
  return Call(*context, "GetWorkflow", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->workflow_id(), "workflow_id");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    auto wf = queue_->GetWorkflow(*id);
    POPQUEUE_RETURN_IF_ERROR(wf.status());
    ToProto(*wf, response);
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::EnqueueBatch(grpc::ServerContext* context,
                                           const EnqueueBatchRequest* request,
                                           EnqueueBatchResponse* response) {
  return Call(*context, "EnqueueBatch", [&](std::string* audit) -> grpc::Status {
    POPQUEUE_RETURN_IF_ERROR(CheckJobCount(request->jobs_size()));
    const size_t max_payload = queue_->config().max_payload_bytes;
    BatchRequest batch;
    std::vector<std::string> queues;  // in the order of the ids in the audit line
    auto step_of = [&](const JobSpec& spec,
                       const std::string& field) -> absl::StatusOr<WorkflowStep> {
      auto step = StepFromProto(spec, field);
      if (!step.ok()) return step.status();
      if (absl::Status s = CheckPayloadSize(step->data, max_payload, field + ".data"); !s.ok()) {
        return s;
      }
      queues.push_back(QueueOf(*step));
      return step;
    };
    for (int i = 0; i < request->jobs_size(); ++i) {
      auto step = step_of(request->jobs(i), absl::StrFormat("jobs[%d]", i));
      POPQUEUE_RETURN_IF_ERROR(step.status());
      batch.jobs.push_back(std::move(*step));
    }
    if (request->has_on_complete()) {
      auto step = step_of(request->on_complete(), "on_complete");
      POPQUEUE_RETURN_IF_ERROR(step.status());
      batch.on_complete = std::move(*step);
    }
    if (request->has_on_success()) {
      auto step = step_of(request->on_success(), "on_success");
      POPQUEUE_RETURN_IF_ERROR(step.status());
      batch.on_success = std::move(*step);
    }
    auto b = queue_->EnqueueBatch(std::move(batch));
    POPQUEUE_RETURN_IF_ERROR(b.status());
    response->set_id(std::to_string(b->id));
    std::vector<int64_t> ids(b->job_ids.begin(), b->job_ids.end());
    for (JobId id : b->job_ids) response->add_job_ids(std::to_string(id));
    if (b->on_complete_id != 0) {
      response->set_on_complete_id(std::to_string(b->on_complete_id));
      ids.push_back(b->on_complete_id);
    }
    if (b->on_success_id != 0) {
      response->set_on_success_id(std::to_string(b->on_success_id));
      ids.push_back(b->on_success_id);
    }
    *audit = absl::StrCat("batch=", b->id, " ", AuditTarget(ids, queues));
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::GetBatch(grpc::ServerContext* context, const GetBatchRequest* request,
                                       BatchRecord* response) {
  return Call(*context, "GetBatch", [&](std::string* audit) -> grpc::Status {
    auto id = ParseRpcJobId(request->batch_id(), "batch_id");
    POPQUEUE_RETURN_IF_ERROR(id.status());
    auto b = queue_->GetBatch(*id);
    POPQUEUE_RETURN_IF_ERROR(b.status());
    ToProto(*b, response);
    return grpc::Status::OK;
  });
}

grpc::Status PopQueueService::ListSchedules(grpc::ServerContext* context,
                                            const ListSchedulesRequest* request,
                                            ListSchedulesResponse* response) {
  return Call(*context, "ListSchedules", [&](std::string* audit) -> grpc::Status {
    for (const ScheduleInfo& s : queue_->Schedules()) ToProto(s, response->add_schedules());
    return grpc::Status::OK;
  });
}

}  // namespace popqueue::server
