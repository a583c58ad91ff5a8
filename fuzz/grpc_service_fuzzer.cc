// Fuzz target: gRPC requests through the service layer. The first byte picks
// the RPC; the rest is the request message in protobuf wire format, decoded
// as gRPC would and handed to PopQueueService over a real Queue (SQLite in a
// temporary folder). Any well-formed message must get a status, never a
// crash; malformed wire data must be refused by the decoder.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "grpcpp/server_context.h"
#include "popqueue/queue.h"
#include "server/grpc/service.h"

namespace {

using popqueue::server::PopQueueService;

struct Fixture {
  Fixture() {
    char dir_template[] = "/tmp/popqueue-grpc-fuzz.XXXXXX";
    dir = mkdtemp(dir_template);
    popqueue::QueueConfig config{.db_url = "sqlite://" + dir + "/fuzz.db"};
    queue = std::make_unique<popqueue::Queue>(config);
    if (!queue->status().ok()) std::abort();
    auto access = popqueue::server::AccessPolicy::Create({});  // no tokens: every call open
    if (!access.ok()) std::abort();
    service = std::make_unique<PopQueueService>(queue.get(), *std::move(access));
  }
  ~Fixture() {
    service.reset();
    queue.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string dir;
  std::unique_ptr<popqueue::Queue> queue;
  std::unique_ptr<PopQueueService> service;
};

Fixture& TheFixture() {
  static Fixture* fixture = [] {
    static Fixture f;  // destroyed at exit: the temporary folder goes too
    return &f;
  }();
  return *fixture;
}

template <typename Request, typename Response, typename Method>
void Call(PopQueueService& service, Method method, const uint8_t* data, size_t size) {
  Request request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  Response response;
  grpc::ServerContext context;
  grpc::Status status = (service.*method)(&context, &request, &response);
  // Errors always say what is wrong.
  if (!status.ok() && status.error_message().empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  PopQueueService& s = *TheFixture().service;
  const uint8_t* msg = data + 1;
  size_t n = size - 1;
  using namespace popqueue;
  switch (data[0] % 10) {
    case 0:
      Call<JobDetailsRequest, JobDetailsResponse>(s, &PopQueueService::GetJobDetails, msg, n);
      break;
    case 1:
      Call<RequeueJobRequest, RequeueJobResponse>(s, &PopQueueService::RequeueJob, msg, n);
      break;
    case 2:
      Call<EnqueueJobsRequest, EnqueueJobsResponse>(s, &PopQueueService::Enqueue, msg, n);
      break;
    case 3: Call<GetJobRequest, JobRecord>(s, &PopQueueService::GetJob, msg, n); break;
    case 4: Call<ListJobsRequest, ListJobsResponse>(s, &PopQueueService::ListJobs, msg, n); break;
    case 5: Call<CancelJobRequest, JobRecord>(s, &PopQueueService::CancelJob, msg, n); break;
    case 6:
      Call<FetchJobsRequest, FetchJobsResponse>(s, &PopQueueService::FetchJobs, msg, n);
      break;
    case 7:
      Call<CompleteJobRequest, CompleteJobResponse>(s, &PopQueueService::CompleteJob, msg, n);
      break;
    case 8: Call<FailJobRequest, FailJobResponse>(s, &PopQueueService::FailJob, msg, n); break;
    case 9:
      Call<HeartbeatRequest, HeartbeatResponse>(s, &PopQueueService::Heartbeat, msg, n);
      break;
  }
  return 0;
}
