// Conversions between the library's types and the messages of
// proto/popqueue.proto, and the mapping of absl status codes to gRPC's.
//
// The generated messages live in namespace popqueue beside the library's
// types; their names never coincide (see the note in the proto).
#ifndef POPQUEUE_SERVER_GRPC_CONVERT_H_
#define POPQUEUE_SERVER_GRPC_CONVERT_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/support/status.h"
#include "popqueue.pb.h"
#include "popqueue/admin.h"
#include "popqueue/job.h"
#include "popqueue/queue.h"
#include "popqueue/workflow.h"

namespace popqueue::server {

// absl and gRPC share the canonical codes; the message passes unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A job id: a positive decimal int64 with nothing around it.
// InvalidArgument naming `field` otherwise.
absl::StatusOr<JobId> ParseRpcJobId(std::string_view text, std::string_view field);
// A lease token: a non-zero decimal int64 (may be negative).
absl::StatusOr<int64_t> ParseLeaseToken(std::string_view text, std::string_view field);

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);
void ToDuration(absl::Duration d, google::protobuf::Duration* out);
// InvalidArgument naming `field` when out of the protobuf ranges.
absl::StatusOr<absl::Time> FromTimestamp(const google::protobuf::Timestamp& t,
                                         std::string_view field);
absl::StatusOr<absl::Duration> FromDuration(const google::protobuf::Duration& d,
                                            std::string_view field);

void ToProto(const Job& job, JobRecord* out);
// The original README's JobDetail (fields 1-6, times RFC 3339 UTC, "" when
// unset) with the rest of the job.
void ToJobDetail(const Job& job, JobDetail* out);
// The enqueue request of `spec`; InvalidArgument naming `field`.<name>.
// Values are otherwise validated by the Queue.
absl::StatusOr<EnqueueRequest> FromProto(const JobSpec& spec, std::string_view field);
// A workflow's job, with its key and edges; a batch's member or callback.
absl::StatusOr<WorkflowStep> FromProto(const WorkflowJobSpec& spec, std::string_view field);
absl::StatusOr<WorkflowStep> StepFromProto(const JobSpec& spec, std::string_view field);

void ToProto(const Workflow& workflow, WorkflowRecord* out);
// Every state is in counts, 0 when no member is in it.
void ToProto(const BatchProgress& batch, BatchRecord* out);
void ToProto(const ScheduleInfo& schedule, ScheduleRecord* out);

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_GRPC_CONVERT_H_
