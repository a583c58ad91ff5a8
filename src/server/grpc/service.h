// PopQueueService: the handlers of service popqueue.PopQueue. Each one
// runs through Call(), which checks the token scope of the RPC (auth.h) and
// writes the audit line of a mutating call, then parses its request, calls
// the Queue (or its RemoteWorkerApi for the worker protocol) and maps the
// result back; no queue logic lives here.
#ifndef POPQUEUE_SERVER_GRPC_SERVICE_H_
#define POPQUEUE_SERVER_GRPC_SERVICE_H_

#include <string>
#include <string_view>

#include "popqueue.grpc.pb.h"
#include "popqueue/queue.h"
#include "popqueue/remote_worker.h"
#include "server/access.h"

namespace popqueue::server {

// Thread-safe: gRPC calls the handlers from many threads at once.
class PopQueueService final : public PopQueue::Service {
 public:
  // `queue` is not owned and must outlive the service.
  PopQueueService(Queue* queue, AccessPolicy access, RemoteWorkerOptions remote = {})
      : queue_(queue), remote_(*queue, remote), access_(std::move(access)) {}

  // Long-polling FetchJobs calls return now (before the server shuts down).
  void StopWaiting() { remote_.StopWaiting(); }

  grpc::Status GetJobDetails(grpc::ServerContext* context, const JobDetailsRequest* request,
                             JobDetailsResponse* response) override;
  grpc::Status RequeueJob(grpc::ServerContext* context, const RequeueJobRequest* request,
                          RequeueJobResponse* response) override;
  grpc::Status Enqueue(grpc::ServerContext* context, const EnqueueJobsRequest* request,
                       EnqueueJobsResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const GetJobRequest* request,
                      JobRecord* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const ListJobsRequest* request,
                        ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const CancelJobRequest* request,
                         JobRecord* response) override;
  grpc::Status FetchJobs(grpc::ServerContext* context, const FetchJobsRequest* request,
                         FetchJobsResponse* response) override;
  grpc::Status CompleteJob(grpc::ServerContext* context, const CompleteJobRequest* request,
                           CompleteJobResponse* response) override;
  grpc::Status FailJob(grpc::ServerContext* context, const FailJobRequest* request,
                       FailJobResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const HeartbeatRequest* request,
                         HeartbeatResponse* response) override;
  grpc::Status RegisterWorker(grpc::ServerContext* context, const RegisterWorkerRequest* request,
                              RegisterWorkerResponse* response) override;
  grpc::Status DeregisterWorker(grpc::ServerContext* context,
                                const DeregisterWorkerRequest* request,
                                DeregisterWorkerResponse* response) override;
  grpc::Status EnqueueWorkflow(grpc::ServerContext* context, const EnqueueWorkflowRequest* request,
                               EnqueueWorkflowResponse* response) override;
  grpc::Status GetWorkflow(grpc::ServerContext* context, const GetWorkflowRequest* request,
                           WorkflowRecord* response) override;
  grpc::Status EnqueueBatch(grpc::ServerContext* context, const EnqueueBatchRequest* request,
                            EnqueueBatchResponse* response) override;
  grpc::Status GetBatch(grpc::ServerContext* context, const GetBatchRequest* request,
                        BatchRecord* response) override;
  grpc::Status ListSchedules(grpc::ServerContext* context, const ListSchedulesRequest* request,
                             ListSchedulesResponse* response) override;

 private:
  // Authorizes `method` for the caller, runs body(&audit) (which may set the
  // audit target, e.g. "job=12") and logs the audit line of a mutating RPC.
  template <typename Body>
  grpc::Status Call(const grpc::ServerContext& context, std::string_view method, Body&& body);

  Queue* queue_;
  RemoteWorkerApi remote_;
  const AccessPolicy access_;
};

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_GRPC_SERVICE_H_
