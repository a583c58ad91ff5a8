// PopQueueService: the handlers of service popqueue.PopQueue. Each one
// checks auth (mutating calls), parses its request, calls the Queue (or its
// RemoteWorkerApi for the worker protocol) and maps the result back; no queue
// logic lives here.
#ifndef POPQUEUE_SERVER_GRPC_SERVICE_H_
#define POPQUEUE_SERVER_GRPC_SERVICE_H_

#include <string>

#include "popqueue.grpc.pb.h"
#include "popqueue/queue.h"
#include "popqueue/remote_worker.h"

namespace popqueue::server {

// Thread-safe: gRPC calls the handlers from many threads at once.
class PopQueueService final : public PopQueue::Service {
 public:
  // `queue` is not owned and must outlive the service. `token` empty = no
  // auth.
  PopQueueService(Queue* queue, std::string token)
      : queue_(queue), remote_(*queue), token_(std::move(token)) {}

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

 private:
  Queue* queue_;
  RemoteWorkerApi remote_;
  const std::string token_;
};

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_GRPC_SERVICE_H_
