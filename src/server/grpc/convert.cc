#include "server/grpc/convert.h"

#include <charconv>
#include <string>

#include "absl/strings/str_format.h"
#include "common/field_error.h"
#include "common/job_json.h"

namespace popqueue::server {
namespace {

// google.protobuf.Timestamp's range: 0001-01-01 to 9999-12-31.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
// google.protobuf.Duration's range: +-10000 years.
constexpr int64_t kMaxDurationSeconds = 315576000000;

absl::StatusOr<int64_t> ParseInt64(std::string_view text, std::string_view field,
                                   std::string_view what) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return FieldError(
        field, absl::StrFormat("must be %s, got \"%s\"", what, std::string(text.substr(0, 64))));
  }
  return value;
}

void ToEdges(const std::vector<JobEdge>& edges,
             google::protobuf::RepeatedPtrField<JobEdgeRecord>* out) {
  for (const JobEdge& e : edges) {
    JobEdgeRecord* r = out->Add();
    r->set_id(std::to_string(e.id));
    r->set_ignore_failure(e.ignore_failure);
  }
}

}  // namespace

// The canonical codes are the same numbers in absl and gRPC; checked here so
// the cast below stays a mechanical one-to-one mapping.
#define POPQUEUE_SAME_CODE(absl_code, grpc_code) \
  static_assert(static_cast<int>(absl::StatusCode::absl_code) == grpc::StatusCode::grpc_code)
POPQUEUE_SAME_CODE(kOk, OK);
POPQUEUE_SAME_CODE(kCancelled, CANCELLED);
POPQUEUE_SAME_CODE(kUnknown, UNKNOWN);
POPQUEUE_SAME_CODE(kInvalidArgument, INVALID_ARGUMENT);
POPQUEUE_SAME_CODE(kDeadlineExceeded, DEADLINE_EXCEEDED);
POPQUEUE_SAME_CODE(kNotFound, NOT_FOUND);
POPQUEUE_SAME_CODE(kAlreadyExists, ALREADY_EXISTS);
POPQUEUE_SAME_CODE(kPermissionDenied, PERMISSION_DENIED);
POPQUEUE_SAME_CODE(kResourceExhausted, RESOURCE_EXHAUSTED);
POPQUEUE_SAME_CODE(kFailedPrecondition, FAILED_PRECONDITION);
POPQUEUE_SAME_CODE(kAborted, ABORTED);
POPQUEUE_SAME_CODE(kOutOfRange, OUT_OF_RANGE);
POPQUEUE_SAME_CODE(kUnimplemented, UNIMPLEMENTED);
POPQUEUE_SAME_CODE(kInternal, INTERNAL);
POPQUEUE_SAME_CODE(kUnavailable, UNAVAILABLE);
POPQUEUE_SAME_CODE(kDataLoss, DATA_LOSS);
POPQUEUE_SAME_CODE(kUnauthenticated, UNAUTHENTICATED);
#undef POPQUEUE_SAME_CODE

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  // absl reserves no codes beyond gRPC's; anything else is reported UNKNOWN.
  if (code < grpc::StatusCode::OK || code > grpc::StatusCode::UNAUTHENTICATED) {
    code = grpc::StatusCode::UNKNOWN;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(status.message()));
}

absl::StatusOr<JobId> ParseRpcJobId(std::string_view text, std::string_view field) {
  auto id = ParseInt64(text, field, "a decimal job id");
  if (id.ok() && *id <= 0) {
    return FieldError(
        field, absl::StrFormat("must be a positive decimal job id, got \"%s\"", std::string(text)));
  }
  return id;
}

absl::StatusOr<int64_t> ParseLeaseToken(std::string_view text, std::string_view field) {
  auto token = ParseInt64(text, field, "the decimal lease token given with the job");
  if (token.ok() && *token == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: must be the lease token given with the job, got 0", field));
  }
  return token;
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  int64_t seconds = absl::ToUnixSeconds(t);  // rounds towards the past
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

void ToDuration(absl::Duration d, google::protobuf::Duration* out) {
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

absl::StatusOr<absl::Time> FromTimestamp(const google::protobuf::Timestamp& t,
                                         std::string_view field) {
  if (t.seconds() < kMinTimestampSeconds || t.seconds() > kMaxTimestampSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return FieldError(field, absl::StrFormat("not a valid timestamp (seconds %d, nanos %d)",
                                             t.seconds(), t.nanos()));
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::StatusOr<absl::Duration> FromDuration(const google::protobuf::Duration& d,
                                            std::string_view field) {
  bool sign_ok = (d.seconds() >= 0 && d.nanos() >= 0) || (d.seconds() <= 0 && d.nanos() <= 0);
  if (d.seconds() < -kMaxDurationSeconds || d.seconds() > kMaxDurationSeconds ||
      d.nanos() < -999999999 || d.nanos() > 999999999 || !sign_ok) {
    return FieldError(field, absl::StrFormat("not a valid duration (seconds %d, nanos %d)",
                                             d.seconds(), d.nanos()));
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProto(const Job& job, JobRecord* out) {
  out->set_id(std::to_string(job.id));
  out->set_queue(job.queue);
  out->set_name(job.name);
  out->set_identifier(job.identifier);
  out->set_data(job.data);
  out->set_priority(job.priority);
  out->set_state(std::string(JobStateName(job.state)));
  out->set_attempt(job.attempt);
  out->set_max_attempts(job.max_attempts);
  ToTimestamp(job.run_at, out->mutable_run_at());
  ToTimestamp(job.created_at, out->mutable_created_at());
  if (job.picked_at) ToTimestamp(*job.picked_at, out->mutable_picked_at());
  if (job.finished_at) ToTimestamp(*job.finished_at, out->mutable_finished_at());
  out->set_worker_id(job.worker_id);
  if (job.lease_expires_at) {
    ToTimestamp(*job.lease_expires_at, out->mutable_lease_expires_at());
  }
  for (const JobError& e : job.errors) {
    AttemptError* error = out->add_errors();
    error->set_attempt(e.attempt);
    ToTimestamp(e.at, error->mutable_at());
    error->set_message(e.message);
  }
  if (job.result) out->mutable_result()->set_value(*job.result);
  out->set_progress(job.progress);
  if (job.timeout > absl::ZeroDuration()) ToDuration(job.timeout, out->mutable_timeout());
  if (job.backoff_base > absl::ZeroDuration()) {
    ToDuration(job.backoff_base, out->mutable_backoff_base());
  }
  out->set_cancel_requested(job.cancel_requested);
  if (job.workflow_id != 0) out->set_workflow_id(std::to_string(job.workflow_id));
  ToEdges(job.parents, out->mutable_parents());
  ToEdges(job.dependants, out->mutable_dependants());
  out->set_waiting_parents(job.waiting_parents);
  for (const auto& [key, value] : job.metadata) (*out->mutable_metadata())[key] = value;
  if (job.stopping && job.state == JobState::kRunning) {
    StopRequest* stopping = out->mutable_stopping();
    stopping->set_reason(job.stopping->reason);
    ToTimestamp(job.stopping->since, stopping->mutable_since());
    stopping->set_overdue(job.stopping->overdue);
    out->set_timed_out(job.stopping->reason == "timeout");
  }
}

void ToJobDetail(const Job& job, JobDetail* out) {
  out->set_name(job.name);
  out->set_identifier(job.identifier);
  out->set_status(std::string(JobStateName(job.state)));
  out->set_createdat(FormatTimestamp(job.created_at));
  if (job.picked_at) out->set_pickedat(FormatTimestamp(*job.picked_at));
  if (job.finished_at) out->set_finishedat(FormatTimestamp(*job.finished_at));
  out->set_id(std::to_string(job.id));
  out->set_queue(job.queue);
  out->set_attempt(job.attempt);
  out->set_max_attempts(job.max_attempts);
  ToProto(job, out->mutable_job());
  *out->mutable_errors() = out->job().errors();
}

namespace {

// JobSpec and WorkflowJobSpec share the job's fields (and their numbers).
template <typename Spec>
absl::StatusOr<EnqueueRequest> RequestFromSpec(const Spec& spec, std::string_view field) {
  EnqueueRequest r{.name = spec.name(), .data = spec.data()};
  EnqueueOptions& o = r.options;
  o.queue = spec.queue();
  o.identifier = spec.identifier();
  o.priority = spec.priority();
  auto sub = [&](std::string_view name) { return absl::StrFormat("%s.%s", field, name); };
  if (spec.has_run_at()) {
    auto t = FromTimestamp(spec.run_at(), sub("run_at"));
    if (!t.ok()) return t.status();
    o.run_at = *t;
  }
  if (spec.has_delay()) {
    auto d = FromDuration(spec.delay(), sub("delay"));
    if (!d.ok()) return d.status();
    o.delay = *d;
  }
  if (spec.max_attempts() != 0) o.max_attempts = spec.max_attempts();
  if (spec.has_timeout()) {
    auto d = FromDuration(spec.timeout(), sub("timeout"));
    if (!d.ok()) return d.status();
    o.timeout = *d;
  }
  if (spec.has_backoff_base()) {
    auto d = FromDuration(spec.backoff_base(), sub("backoff_base"));
    if (!d.ok()) return d.status();
    o.backoff_base = *d;
  }
  for (const auto& [key, value] : spec.metadata()) o.metadata.emplace(key, value);
  return r;
}

WorkflowStep StepOf(EnqueueRequest r) {
  return WorkflowStep{
      .name = std::move(r.name), .data = std::move(r.data), .options = std::move(r.options)};
}

std::string IdOrEmpty(JobId id) { return id != 0 ? std::to_string(id) : std::string(); }

}  // namespace

absl::StatusOr<EnqueueRequest> FromProto(const JobSpec& spec, std::string_view field) {
  return RequestFromSpec(spec, field);
}

absl::StatusOr<WorkflowStep> FromProto(const WorkflowJobSpec& spec, std::string_view field) {
  auto r = RequestFromSpec(spec, field);
  if (!r.ok()) return r.status();
  WorkflowStep step = StepOf(std::move(*r));
  step.key = spec.key();
  for (const WorkflowEdgeSpec& e : spec.depends_on()) {
    step.depends_on.push_back(
        WorkflowDependency{.key = e.key(), .ignore_failure = e.ignore_failure()});
  }
  return step;
}

absl::StatusOr<WorkflowStep> StepFromProto(const JobSpec& spec, std::string_view field) {
  auto r = RequestFromSpec(spec, field);
  if (!r.ok()) return r.status();
  return StepOf(std::move(*r));
}

void ToProto(const Workflow& workflow, WorkflowRecord* out) {
  out->set_id(std::to_string(workflow.id));
  for (const Job& job : workflow.jobs) ToProto(job, out->add_jobs());
}

void ToProto(const BatchProgress& batch, BatchRecord* out) {
  out->set_id(std::to_string(batch.id));
  out->set_total(batch.total);
  for (JobState s : kAllJobStates) {
    auto it = batch.counts.find(s);
    (*out->mutable_counts())[std::string(JobStateName(s))] =
        it == batch.counts.end() ? 0 : it->second;
  }
  out->set_finished(batch.finished);
  out->set_succeeded(batch.succeeded);
  out->set_on_complete_id(IdOrEmpty(batch.on_complete_id));
  out->set_on_success_id(IdOrEmpty(batch.on_success_id));
}

void ToProto(const ScheduleInfo& schedule, ScheduleRecord* out) {
  // The REST form computes the local time; one rendering for both.
  nlohmann::json j = ScheduleToJson(schedule);
  out->set_id(schedule.id);
  out->set_name(schedule.name);
  out->set_cron(schedule.expression);
  out->set_time_zone(schedule.time_zone);
  out->set_queue(schedule.queue);
  out->set_missed(j["missed"].get<std::string>());
  if (schedule.next_fire) {
    ToTimestamp(*schedule.next_fire, out->mutable_next_fire());
    if (j["nextFireLocal"].is_string()) {
      out->set_next_fire_local(j["nextFireLocal"].get<std::string>());
    }
  }
}

}  // namespace popqueue::server
