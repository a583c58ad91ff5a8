// Bad input through the gRPC door: every RPC answers as its token scope says
// (the service descriptor is walked for each scope, so new RPCs are
// covered), mutating calls leave an audit line, oversized payloads
// and messages are RESOURCE_EXHAUSTED, undecodable or hostile messages get a
// clear status and change nothing, and injection strings are stored verbatim.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "common/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "popqueue.grpc.pb.h"
#include "popqueue/queue.h"
#include "server/grpc/auth.h"
#include "server/grpc/grpc_server.h"
#include "tests/support/stderr_capture.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

constexpr char kToken[] = "grpc-secret-token-77c3";

class GrpcSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({.token = kToken}); }

  void Start(GrpcOptions options) {
    server_.reset();
    queue_.reset();
    QueueConfig config{.db_url = dir_.SqliteUrl(), .retries = 0, .max_payload_bytes = 1000};
    config.worker.handle_signals = false;
    auto queue = Queue::Open(config);
    ASSERT_TRUE(queue.ok()) << queue.status();
    queue_ = std::move(*queue);
    options.address = "127.0.0.1:0";
    options.max_message_bytes = 64 << 10;
    auto server = GrpcServer::Start(queue_.get(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = PopQueue::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kToken) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  // Calls `method` ("/popqueue.PopQueue/X") with raw request bytes.
  grpc::Status RawCall(const std::string& method, const std::string& bytes,
                       const std::string& token = kToken) {
    grpc::GenericStub generic(channel_);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    auto ctx = Ctx(token);
    Notification done;
    grpc::Status status;
    generic.UnaryCall(ctx.get(), method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    return status;
  }

  int64_t JobCount() {
    auto page = queue_->ListJobs(JobFilter{.limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? static_cast<int64_t>(page->jobs.size()) : -1;
  }

  TempDir dir_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<PopQueue::Stub> stub_;
};

TEST_F(GrpcSecurityTest, EveryMutatingRpcNeedsTheToken) {
  auto job = queue_->Enqueue("n", "x");
  ASSERT_TRUE(job.ok());
  // The reads (scope read in server/grpc/auth.cc) stay open with only a
  // single token configured; EveryRpcHasAScope checks the table itself.
  std::set<std::string> read_only;
  for (const RpcScope& r : RpcScopes()) {
    if (r.scope == Scope::kRead) read_only.insert(std::string(r.method));
  }
  EXPECT_THAT(read_only, ::testing::IsSupersetOf({"GetJobDetails", "GetJob", "ListJobs"}));
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("popqueue.PopQueue");
  ASSERT_NE(service, nullptr);
  int mutating = 0;
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string& name = service->method(i)->name();
    std::string path = "/popqueue.PopQueue/" + name;
    for (const std::string& token :
         {std::string(""), std::string("wrong"), std::string(kToken) + "x"}) {
      // An empty message decodes as the request with every field unset.
      grpc::Status s = RawCall(path, "", token);
      if (read_only.count(name)) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << name;
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
            << name << " with token '" << token << "': " << s.error_message();
        EXPECT_FALSE(s.error_message().empty());
      }
    }
    if (!read_only.count(name)) ++mutating;
  }
  EXPECT_GE(mutating, 7);
  EXPECT_EQ(JobCount(), 1);
  EXPECT_EQ(queue_->GetJob(job->id)->state, JobState::kAvailable);
}

TEST_F(GrpcSecurityTest, OversizedPayloadsAndMessagesAreResourceExhausted) {
  EnqueueJobsRequest req;
  req.add_jobs()->set_name("a");
  JobSpec* big = req.add_jobs();
  big->set_name("b");
  big->set_data(std::string(1001, 'x'));
  EnqueueJobsResponse resp;
  grpc::Status s = stub_->Enqueue(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[1].data"));

  big->set_data(std::string(100 << 10, 'x'));  // over max_message_bytes
  s = stub_->Enqueue(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(JobCount(), 0);

  big->set_data(std::string(1000, 'x'));
  s = stub_->Enqueue(Ctx().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(JobCount(), 2);
}

TEST_F(GrpcSecurityTest, UndecodableAndInvalidMessagesChangeNothing) {
  const std::string enqueue = "/popqueue.PopQueue/Enqueue";
  // Invalid UTF-8 in a proto3 string field: refused by the decoder.
  JobSpec spec;
  spec.set_name("NAME");
  EnqueueJobsRequest req;
  *req.add_jobs() = spec;
  std::string bytes = req.SerializeAsString();
  bytes.replace(bytes.find("NAME"), 4, "\xff\xfe\xc3\x28");
  EXPECT_FALSE(RawCall(enqueue, bytes).ok());
  // Truncated and random wire data.
  std::string full = req.SerializeAsString();
  EXPECT_FALSE(RawCall(enqueue, full.substr(0, full.size() - 2)).ok());
  EXPECT_FALSE(RawCall(enqueue, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").ok());
  EXPECT_FALSE(RawCall("/popqueue.PopQueue/NoSuchMethod", "").ok());

  // Well-formed but invalid values: a clear INVALID_ARGUMENT naming the field.
  struct Case {
    std::function<void(JobSpec*)> set;
    std::string field;
  };
  const Case cases[] = {
      {[](JobSpec* j) { j->set_name(""); }, "name"},
      {[](JobSpec* j) { j->set_max_attempts(-1); }, "max_attempts"},
      {[](JobSpec* j) { j->mutable_delay()->set_seconds(-5); }, "delay"},
      {[](JobSpec* j) { j->mutable_timeout()->set_seconds(-1); }, "timeout"},
      {[](JobSpec* j) { j->mutable_run_at()->set_seconds(-99999999999999); }, "run_at"},
      {[](JobSpec* j) { j->set_queue(std::string(1000, 'q')); }, "queue"},
      {[](JobSpec* j) { j->set_name(std::string(1000, 'n')); }, "name"},
  };
  for (const Case& c : cases) {
    EnqueueJobsRequest r;
    JobSpec* j = r.add_jobs();
    j->set_name("ok");
    c.set(j);
    EnqueueJobsResponse resp;
    grpc::Status s = stub_->Enqueue(Ctx().get(), r, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field)) << s.error_message();
  }
  for (const std::string& id : {"", "0", "-1", "1 OR 1=1", "99999999999999999999", "0x10"}) {
    GetJobRequest r;
    r.set_job_id(id);
    JobRecord out;
    grpc::Status s = stub_->GetJob(Ctx("").get(), r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id;
  }
  ListJobsRequest list;
  list.add_states("available' OR '1'='1");
  ListJobsResponse listed;
  EXPECT_EQ(stub_->ListJobs(Ctx("").get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  FetchJobsRequest fetch;
  fetch.set_worker_id("w");
  fetch.set_lease_seconds(-1);
  FetchJobsResponse fetched;
  EXPECT_EQ(stub_->FetchJobs(Ctx().get(), fetch, &fetched).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(JobCount(), 0);
}

TEST_F(GrpcSecurityTest, InjectionStringsAreStoredVerbatim) {
  const std::string evil[] = {"'; DROP TABLE jobs; --",    "{\"$gt\": \"\"}", "$where",
                              "<script>alert(1)</script>", "$(id) `id`",      "%s%n"};
  for (const std::string& s : evil) {
    EnqueueJobsRequest req;
    JobSpec* j = req.add_jobs();
    j->set_name(s);
    j->set_identifier(s);
    j->set_data(s);
    EnqueueJobsResponse resp;
    grpc::Status st = stub_->Enqueue(Ctx().get(), req, &resp);
    ASSERT_TRUE(st.ok()) << s << ": " << st.error_message();
    GetJobRequest get;
    get.set_job_id(resp.results(0).id());
    JobRecord job;
    ASSERT_TRUE(stub_->GetJob(Ctx("").get(), get, &job).ok());
    EXPECT_EQ(job.name(), s);
    EXPECT_EQ(job.identifier(), s);
    EXPECT_EQ(job.data(), s);
    ListJobsRequest list;
    list.set_identifier(s);
    ListJobsResponse listed;
    ASSERT_TRUE(stub_->ListJobs(Ctx("").get(), list, &listed).ok());
    EXPECT_EQ(listed.jobs_size(), 1) << s;
  }
  EXPECT_EQ(JobCount(), static_cast<int64_t>(std::size(evil)));
}

constexpr char kReadSecret[] = "viewer-secret-7f3a9c1e55";
constexpr char kWriteSecret[] = "worker-secret-2b8d4e0a77";
constexpr char kAdminSecret[] = "operator-secret-9c6e1f3b22";

std::vector<AccessToken> ScopedTokens() {
  return {{"viewer", Scope::kRead, kReadSecret},
          {"worker", Scope::kWrite, kWriteSecret},
          {"operator", Scope::kAdmin, kAdminSecret}};
}

// The scope table and the service agree: every RPC has a row, every row an
// RPC.
TEST_F(GrpcSecurityTest, EveryRpcHasAScope) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("popqueue.PopQueue");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_TRUE(ScopeOfRpc(service->method(i)->name()).has_value())
        << service->method(i)->name() << " has no row in server/grpc/auth.cc";
  }
  for (const RpcScope& r : RpcScopes()) {
    EXPECT_NE(service->FindMethodByName(std::string(r.method)), nullptr) << r.method;
  }
  EXPECT_EQ(ScopeOfRpc("GetJobDetails"), Scope::kRead);
  EXPECT_EQ(ScopeOfRpc("RequeueJob"), Scope::kAdmin);
  // Every RPC reads job data at least; all but Get*/List* change something.
  for (const RpcScope& r : RpcScopes()) {
    EXPECT_GE(r.scope, Scope::kRead) << r.method;
    if (!r.method.starts_with("Get") && !r.method.starts_with("List")) {
      EXPECT_GE(r.scope, Scope::kWrite) << r.method;
    }
  }
}

// Walks the service descriptor once per credential: no token, a wrong one,
// and a token of each scope. UNAUTHENTICATED without a valid token,
// PERMISSION_DENIED naming the scope needed for too small a scope, past the
// check otherwise (an empty request then fails validation, if anything).
TEST_F(GrpcSecurityTest, EveryRpcAnswersAsItsScopeSays) {
  Start({.tokens = ScopedTokens()});
  auto job = queue_->Enqueue("n", "x");
  ASSERT_TRUE(job.ok());
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("popqueue.PopQueue");
  ASSERT_NE(service, nullptr);
  const struct {
    std::string secret;
    std::optional<Scope> scope;
  } callers[] = {{"", std::nullopt},
                 {"not-a-token-at-all-0000", std::nullopt},
                 {kReadSecret, Scope::kRead},
                 {kWriteSecret, Scope::kWrite},
                 {kAdminSecret, Scope::kAdmin}};
  std::map<Scope, int> rpcs_of;
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string& name = service->method(i)->name();
    std::optional<Scope> needed = ScopeOfRpc(name);
    ASSERT_TRUE(needed.has_value()) << name;
    ++rpcs_of[*needed];
    for (const auto& caller : callers) {
      std::string what =
          name + " with " +
          (caller.scope ? std::string(ScopeName(*caller.scope)) : "'" + caller.secret + "'");
      grpc::Status s = RawCall("/popqueue.PopQueue/" + name, "", caller.secret);
      if (caller.scope && *caller.scope >= *needed) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << s.error_message();
      } else if (caller.scope) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
        EXPECT_THAT(s.error_message(), HasSubstr("needs scope " + std::string(ScopeName(*needed))));
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
        EXPECT_FALSE(s.error_message().empty());
      }
      if (!caller.secret.empty()) EXPECT_THAT(s.error_message(), Not(HasSubstr(caller.secret)));
    }
  }
  EXPECT_GE(rpcs_of[Scope::kRead], 3);
  EXPECT_GE(rpcs_of[Scope::kWrite], 5);
  EXPECT_GE(rpcs_of[Scope::kAdmin], 2);
  EXPECT_EQ(JobCount(), 1);
  EXPECT_EQ(queue_->GetJob(job->id)->state, JobState::kAvailable);
}

TEST_F(GrpcSecurityTest, PublicReadsKeepReadRpcsOpen) {
  Start({.tokens = ScopedTokens(), .public_reads = true});
  ListJobsResponse listed;
  EXPECT_TRUE(stub_->ListJobs(Ctx("").get(), ListJobsRequest(), &listed).ok());
  EnqueueJobsRequest req;
  req.add_jobs()->set_name("n");
  EnqueueJobsResponse resp;
  EXPECT_EQ(stub_->Enqueue(Ctx("").get(), req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub_->Enqueue(Ctx(kWriteSecret).get(), req, &resp).ok());
}

// One INFO line per mutating RPC, allowed or refused; none for reads; no
// payload, no secret.
TEST_F(GrpcSecurityTest, EveryMutatingRpcLeavesOneAuditLine) {
  Start({.tokens = ScopedTokens()});
  std::string log, id;
  {
    ::popqueue::testing::StderrCapture capture(dir_.path() + "/stderr.log");
    ASSERT_TRUE(capture.ok());
    EnqueueJobsRequest req;
    JobSpec* spec = req.add_jobs();
    spec->set_name("n");
    spec->set_queue("mail");
    spec->set_data("payload-must-not-be-logged");
    EnqueueJobsResponse resp;
    ASSERT_TRUE(stub_->Enqueue(Ctx(kWriteSecret).get(), req, &resp).ok());
    id = resp.results(0).id();
    CancelJobRequest cancel;
    cancel.set_job_id(id);
    JobRecord record;
    EXPECT_EQ(stub_->CancelJob(Ctx(kWriteSecret).get(), cancel, &record).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_TRUE(stub_->CancelJob(Ctx(kAdminSecret).get(), cancel, &record).ok());
    RequeueJobRequest requeue;
    requeue.set_jobid(id);
    RequeueJobResponse requeued;
    EXPECT_TRUE(stub_->RequeueJob(Ctx(kAdminSecret).get(), requeue, &requeued).ok());
    EXPECT_EQ(stub_->RequeueJob(Ctx("").get(), requeue, &requeued).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    GetJobRequest get;
    get.set_job_id(id);
    EXPECT_TRUE(stub_->GetJob(Ctx(kReadSecret).get(), get, &record).ok());
    log = capture.text();
  }
  std::vector<std::string> audit;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("audit: ") != std::string::npos) audit.push_back(line);
  }
  ASSERT_EQ(audit.size(), 5u) << log;
  const std::string expected[] = {
      "audit: token=worker grpc Enqueue -> OK job=" + id + " queue=mail",
      "audit: token=worker grpc CancelJob -> PERMISSION_DENIED",
      "audit: token=operator grpc CancelJob -> OK job=" + id,
      "audit: token=operator grpc RequeueJob -> OK job=" + id,
      "audit: token=- grpc RequeueJob -> UNAUTHENTICATED",
  };
  for (size_t i = 0; i < audit.size(); ++i) {
    EXPECT_THAT(audit[i], ::testing::EndsWith(expected[i])) << i;
  }
  for (const char* secret :
       {kReadSecret, kWriteSecret, kAdminSecret, "payload-must-not-be-logged"}) {
    EXPECT_THAT(log, Not(HasSubstr(secret)));
  }
}

}  // namespace
}  // namespace popqueue::server
