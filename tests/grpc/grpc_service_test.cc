// The gRPC service end to end: a GrpcServer on a free port over a Queue on a
// temporary SQLite file, called through the generated C++ stub. The Queue runs
// no workers; the tests play the remote worker themselves, on a fake clock.
#include <memory>
#include <string>
#include <vector>

#include "common/job_json.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "popqueue.grpc.pb.h"
#include "popqueue/queue.h"
#include "server/grpc/auth.h"
#include "server/grpc/grpc_server.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using popqueue::testing::FakeClock;
using popqueue::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kToken[] = "test-token-42";

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QueueConfig config{.db_url = dir_.SqliteUrl(), .retries = 2, .clock = &clock_};
    config.worker.retry.base = absl::Seconds(10);
    config.worker.retry.jitter = 0;
    config.worker.lease = absl::Seconds(30);
    config.worker.handle_signals = false;
    auto queue = Queue::Open(config);
    ASSERT_TRUE(queue.ok()) << queue.status();
    queue_ = std::move(*queue);
    auto server = GrpcServer::Start(queue_.get(), {.address = "127.0.0.1:0", .token = kToken});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    stub_ = PopQueue::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                                  grpc::InsecureChannelCredentials()));
  }

  // A context carrying the token; `token` "" sends none.
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kToken) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  std::string EnqueueOne(const std::string& name, const std::string& data, int max_attempts = 0) {
    EnqueueJobsRequest req;
    JobSpec* spec = req.add_jobs();
    spec->set_name(name);
    spec->set_data(data);
    spec->set_max_attempts(max_attempts);
    EnqueueJobsResponse resp;
    grpc::Status s = stub_->Enqueue(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.results_size(), 1);
    return resp.results_size() ? resp.results(0).id() : "";
  }

  std::vector<LeasedJob> Fetch(int limit = 10, int lease_seconds = 0) {
    FetchJobsRequest req;
    req.set_worker_id("test-worker");
    req.set_limit(limit);
    req.set_lease_seconds(lease_seconds);
    FetchJobsResponse resp;
    grpc::Status s = stub_->FetchJobs(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.jobs().begin(), resp.jobs().end()};
  }

  JobRecord Get(const std::string& id) {
    GetJobRequest req;
    req.set_job_id(id);
    JobRecord job;
    grpc::Status s = stub_->GetJob(Ctx("").get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }

  grpc::Status Complete(const std::string& id, const std::string& token,
                        const std::string& result = "") {
    CompleteJobRequest req;
    req.set_job_id(id);
    req.set_lease_token(token);
    if (!result.empty()) req.mutable_result()->set_value(result);
    CompleteJobResponse resp;
    return stub_->CompleteJob(Ctx().get(), req, &resp);
  }

  grpc::Status Fail(const std::string& id, const std::string& token, const std::string& error,
                    FailJobResponse* resp, bool no_retry = false) {
    FailJobRequest req;
    req.set_job_id(id);
    req.set_lease_token(token);
    req.set_error(error);
    req.set_no_retry(no_retry);
    return stub_->FailJob(Ctx().get(), req, resp);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<PopQueue::Stub> stub_;
};

TEST_F(GrpcServiceTest, GetJobDetailsReturnsTheJob) {
  std::string id = EnqueueOne("email", R"({"to":"a@b.c"})");
  JobDetailsRequest req;
  req.set_jobid(id);
  JobDetailsResponse resp;
  grpc::Status s = stub_->GetJobDetails(Ctx("").get(), req, &resp);  // reads need no token
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.jobdetails_size(), 1);
  const JobDetail& detail = resp.jobdetails(0);
  // The original README's fields.
  EXPECT_EQ(detail.name(), "email");
  EXPECT_EQ(detail.identifier(), "");
  EXPECT_EQ(detail.status(), "available");
  EXPECT_EQ(detail.createdat(), FormatTimestamp(clock_.Now()));
  EXPECT_EQ(detail.pickedat(), "");
  EXPECT_EQ(detail.finishedat(), "");
  EXPECT_EQ(detail.id(), id);
  EXPECT_EQ(detail.queue(), "default");
  EXPECT_EQ(detail.max_attempts(), 3);
  const JobRecord& job = detail.job();
  EXPECT_EQ(job.id(), id);
  EXPECT_EQ(job.name(), "email");
  EXPECT_EQ(job.queue(), "default");
  EXPECT_EQ(job.data(), R"({"to":"a@b.c"})");
  EXPECT_EQ(job.state(), "available");
  EXPECT_EQ(job.max_attempts(), 3);  // retries 2 + 1
  EXPECT_EQ(job.created_at().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_FALSE(job.has_picked_at());
  EXPECT_FALSE(job.has_result());
  EXPECT_EQ(Get(id).id(), id);
}

// The original README's call: an empty JobDetailsRequest lists the newest job
// details; the request's extra fields filter and page.
TEST_F(GrpcServiceTest, EmptyJobDetailsRequestListsNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(EnqueueOne("n" + std::to_string(i), "x"));
  JobDetailsRequest req;
  JobDetailsResponse resp;
  grpc::Status s = stub_->GetJobDetails(Ctx("").get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.jobdetails_size(), 3);
  EXPECT_EQ(resp.jobdetails(0).id(), ids[2]);
  EXPECT_EQ(resp.jobdetails(0).name(), "n2");
  EXPECT_EQ(resp.jobdetails(2).id(), ids[0]);
  EXPECT_EQ(resp.next_before_id(), "");

  req.set_limit(2);
  resp.Clear();
  ASSERT_TRUE(stub_->GetJobDetails(Ctx("").get(), req, &resp).ok());
  ASSERT_EQ(resp.jobdetails_size(), 2);
  ASSERT_NE(resp.next_before_id(), "");
  req.set_before_id(resp.next_before_id());
  resp.Clear();
  ASSERT_TRUE(stub_->GetJobDetails(Ctx("").get(), req, &resp).ok());
  ASSERT_EQ(resp.jobdetails_size(), 1);
  EXPECT_EQ(resp.jobdetails(0).id(), ids[0]);

  JobDetailsRequest by_name;
  by_name.set_name("n1");
  by_name.add_states("available");
  resp.Clear();
  ASSERT_TRUE(stub_->GetJobDetails(Ctx("").get(), by_name, &resp).ok());
  ASSERT_EQ(resp.jobdetails_size(), 1);
  EXPECT_EQ(resp.jobdetails(0).id(), ids[1]);

  JobDetailsRequest bad;
  bad.add_states("gone");
  s = stub_->GetJobDetails(Ctx("").get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("states[0]"));
  bad.Clear();
  bad.set_limit(1001);
  EXPECT_EQ(stub_->GetJobDetails(Ctx("").get(), bad, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad.Clear();
  bad.set_jobid(ids[0]);
  bad.set_limit(5);
  s = stub_->GetJobDetails(Ctx("").get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobId"));
}

TEST_F(GrpcServiceTest, BadIdIsInvalidArgumentNamingTheField) {
  for (const char* bad : {"abc", "12x", " 12", "-5", "0", "99999999999999999999"}) {
    JobDetailsRequest req;
    req.set_jobid(bad);
    JobDetailsResponse resp;
    grpc::Status s = stub_->GetJobDetails(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(s.error_message(), HasSubstr("jobId")) << bad;
  }
  RequeueJobRequest rq;
  rq.set_jobid("nope");
  RequeueJobResponse rr;
  grpc::Status s = stub_->RequeueJob(Ctx().get(), rq, &rr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobId"));
  CompleteJobRequest cq;
  cq.set_job_id("1");
  cq.set_lease_token("x");
  CompleteJobResponse cr;
  s = stub_->CompleteJob(Ctx().get(), cq, &cr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("lease_token"));
}

TEST_F(GrpcServiceTest, UnknownIdIsNotFound) {
  JobDetailsRequest req;
  req.set_jobid("123456789");
  JobDetailsResponse resp;
  EXPECT_EQ(stub_->GetJobDetails(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  RequeueJobRequest rq;
  rq.set_jobid("123456789");
  RequeueJobResponse rr;
  EXPECT_EQ(stub_->RequeueJob(Ctx().get(), rq, &rr).error_code(), grpc::StatusCode::NOT_FOUND);
  CancelJobRequest cq;
  cq.set_job_id("123456789");
  JobRecord cr;
  EXPECT_EQ(stub_->CancelJob(Ctx().get(), cq, &cr).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Complete("123456789", "77").error_code(), grpc::StatusCode::NOT_FOUND);
  FailJobResponse fr;
  EXPECT_EQ(Fail("123456789", "77", "x", &fr).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServiceTest, RequeueOfAvailableIsFailedPreconditionOfDeadWorks) {
  std::string id = EnqueueOne("flaky", "x", /*max_attempts=*/1);
  RequeueJobRequest rq;
  rq.set_jobid(id);
  RequeueJobResponse rr;
  grpc::Status s = stub_->RequeueJob(Ctx().get(), rq, &rr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  auto jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  FailJobResponse fr;
  ASSERT_TRUE(Fail(id, jobs[0].lease_token(), "boom", &fr).ok());
  EXPECT_EQ(fr.state(), "dead");

  s = stub_->RequeueJob(Ctx().get(), rq, &rr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rr.message(), "job " + id + " (flaky) requeued: available, 1 attempt left");
  EXPECT_EQ(rr.job().state(), "available");
  EXPECT_EQ(rr.job().attempt(), 0);
  EXPECT_EQ(Get(id).state(), "available");
}

TEST_F(GrpcServiceTest, MutatingCallsNeedTheToken) {
  std::string id = EnqueueOne("email", "x");
  for (const std::string& token : {std::string(""), std::string("wrong-token")}) {
    EnqueueJobsRequest eq;
    eq.add_jobs()->set_name("email");
    EnqueueJobsResponse er;
    EXPECT_EQ(stub_->Enqueue(Ctx(token).get(), eq, &er).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    RequeueJobRequest rq;
    rq.set_jobid(id);
    RequeueJobResponse rr;
    EXPECT_EQ(stub_->RequeueJob(Ctx(token).get(), rq, &rr).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    CancelJobRequest cq;
    cq.set_job_id(id);
    JobRecord cr;
    EXPECT_EQ(stub_->CancelJob(Ctx(token).get(), cq, &cr).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    FetchJobsRequest fq;
    fq.set_worker_id("w");
    FetchJobsResponse fr;
    EXPECT_EQ(stub_->FetchJobs(Ctx(token).get(), fq, &fr).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    CompleteJobRequest kq;
    CompleteJobResponse kr;
    EXPECT_EQ(stub_->CompleteJob(Ctx(token).get(), kq, &kr).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    FailJobRequest xq;
    FailJobResponse xr;
    EXPECT_EQ(stub_->FailJob(Ctx(token).get(), xq, &xr).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    HeartbeatRequest hq;
    HeartbeatResponse hr;
    grpc::Status s = stub_->Heartbeat(Ctx(token).get(), hq, &hr);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr(kToken)));
  }
  // Another scheme is refused too.
  grpc::ClientContext basic;
  basic.AddMetadata("authorization", std::string("Basic ") + kToken);
  EnqueueJobsRequest eq;
  eq.add_jobs()->set_name("email");
  EnqueueJobsResponse er;
  EXPECT_EQ(stub_->Enqueue(&basic, eq, &er).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Nothing changed; reads need no token.
  EXPECT_EQ(Get(id).state(), "available");
  ListJobsRequest lq;
  ListJobsResponse lr;
  ASSERT_TRUE(stub_->ListJobs(Ctx("").get(), lq, &lr).ok());
  EXPECT_EQ(lr.jobs_size(), 1);
}

TEST_F(GrpcServiceTest, EnqueueBatchDuplicatesAndFieldErrors) {
  EnqueueJobsRequest req;
  for (int i = 0; i < 3; ++i) {
    JobSpec* spec = req.add_jobs();
    spec->set_name("report");
    spec->set_data("d" + std::to_string(i));
    spec->set_queue("reports");
    spec->set_priority(i);
  }
  req.mutable_jobs(2)->set_identifier("nightly");
  req.mutable_jobs(1)->mutable_delay()->set_seconds(60);
  EnqueueJobsResponse resp;
  ASSERT_TRUE(stub_->Enqueue(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_TRUE(resp.results(0).inserted());
  EXPECT_EQ(resp.results(0).state(), "available");
  EXPECT_EQ(resp.results(1).state(), "scheduled");
  JobRecord delayed = Get(resp.results(1).id());
  EXPECT_EQ(delayed.run_at().seconds(), absl::ToUnixSeconds(clock_.Now()) + 60);
  EXPECT_EQ(delayed.queue(), "reports");

  // The identifier is held: the existing job is returned.
  EnqueueJobsRequest again;
  JobSpec* dup = again.add_jobs();
  dup->set_name("report");
  dup->set_identifier("nightly");
  EnqueueJobsResponse dup_resp;
  ASSERT_TRUE(stub_->Enqueue(Ctx().get(), again, &dup_resp).ok());
  EXPECT_FALSE(dup_resp.results(0).inserted());
  EXPECT_EQ(dup_resp.results(0).id(), resp.results(2).id());

  // Field errors name jobs[i].<field>.
  EnqueueJobsRequest bad;
  bad.add_jobs()->set_name("ok");
  bad.add_jobs()->set_name("");
  grpc::Status s = stub_->Enqueue(Ctx().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[1].name"));
  EnqueueJobsRequest one;
  one.add_jobs()->set_name("x");
  one.mutable_jobs(0)->set_max_attempts(-1);
  s = stub_->Enqueue(Ctx().get(), one, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[0].max_attempts"));
  one.mutable_jobs(0)->set_max_attempts(0);
  one.mutable_jobs(0)->mutable_delay()->set_nanos(-5);
  one.mutable_jobs(0)->mutable_delay()->set_seconds(1);
  s = stub_->Enqueue(Ctx().get(), one, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[0].delay"));
  EnqueueJobsRequest none;
  s = stub_->Enqueue(Ctx().get(), none, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs"));
}

TEST_F(GrpcServiceTest, ListJobsFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(EnqueueOne(i % 2 ? "odd" : "even", "x"));
  ListJobsRequest req;
  req.set_limit(2);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    ListJobsResponse resp;
    ASSERT_TRUE(stub_->ListJobs(Ctx().get(), req, &resp).ok());
    for (const JobRecord& j : resp.jobs()) seen.push_back(j.id());
    if (resp.next_before_id().empty()) break;
    req.set_before_id(resp.next_before_id());
  }
  EXPECT_THAT(seen, ElementsAre(ids[4], ids[3], ids[2], ids[1], ids[0]));  // newest first

  ListJobsRequest by_name;
  by_name.set_name("odd");
  by_name.add_states("available");
  ListJobsResponse resp;
  ASSERT_TRUE(stub_->ListJobs(Ctx().get(), by_name, &resp).ok());
  ASSERT_EQ(resp.jobs_size(), 2);
  EXPECT_EQ(resp.jobs(0).id(), ids[3]);

  ListJobsRequest bad_state;
  bad_state.add_states("finished");
  grpc::Status s = stub_->ListJobs(Ctx().get(), bad_state, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("states[0]"));
  ListJobsRequest bad_limit;
  bad_limit.set_limit(5000);
  s = stub_->ListJobs(Ctx().get(), bad_limit, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("limit"));
}

TEST_F(GrpcServiceTest, CancelJob) {
  std::string id = EnqueueOne("email", "x");
  CancelJobRequest req;
  req.set_job_id(id);
  JobRecord job;
  ASSERT_TRUE(stub_->CancelJob(Ctx().get(), req, &job).ok());
  EXPECT_EQ(job.state(), "cancelled");
  EXPECT_TRUE(job.has_finished_at());
  EXPECT_EQ(stub_->CancelJob(Ctx().get(), req, &job).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GrpcServiceTest, WorkerFetchesHeartbeatsAndCompletes) {
  std::string id = EnqueueOne("resize", "img-1");
  auto jobs = Fetch(10, /*lease_seconds=*/60);
  ASSERT_EQ(jobs.size(), 1u);
  const LeasedJob& leased = jobs[0];
  EXPECT_EQ(leased.job().id(), id);
  EXPECT_EQ(leased.job().state(), "running");
  EXPECT_EQ(leased.job().attempt(), 1);
  EXPECT_EQ(leased.job().worker_id(), "test-worker");
  EXPECT_FALSE(leased.lease_token().empty());
  EXPECT_EQ(leased.lease_expires_at().seconds(), absl::ToUnixSeconds(clock_.Now()) + 60);
  EXPECT_TRUE(Fetch().empty());  // nothing else is due

  clock_.Advance(absl::Seconds(20));
  HeartbeatRequest hb;
  HeartbeatItem* item = hb.add_items();
  item->set_job_id(id);
  item->set_lease_token(leased.lease_token());
  item->mutable_progress()->set_value(40);
  hb.set_lease_seconds(90);
  HeartbeatResponse hr;
  ASSERT_TRUE(stub_->Heartbeat(Ctx().get(), hb, &hr).ok());
  EXPECT_THAT(hr.extended_ids(), ElementsAre(id));
  EXPECT_THAT(hr.cancel_requested_ids(), IsEmpty());
  EXPECT_THAT(hr.lost_ids(), IsEmpty());
  JobRecord running = Get(id);
  EXPECT_EQ(running.progress(), 40);
  EXPECT_EQ(running.lease_expires_at().seconds(), absl::ToUnixSeconds(clock_.Now()) + 90);

  grpc::Status s = Complete(id, leased.lease_token(), R"({"width":640})");
  ASSERT_TRUE(s.ok()) << s.error_message();
  JobRecord done = Get(id);
  EXPECT_EQ(done.state(), "completed");
  ASSERT_TRUE(done.has_result());
  EXPECT_EQ(done.result().value(), R"({"width":640})");
  EXPECT_TRUE(done.has_finished_at());
  // Completing twice is refused: the lease is gone.
  EXPECT_EQ(Complete(id, leased.lease_token()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GrpcServiceTest, FailJobRetriesWithTheQueuesPolicyThenDies) {
  std::string id = EnqueueOne("flaky", "x");  // max_attempts 3
  std::vector<std::string> states;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto jobs = Fetch();
    ASSERT_EQ(jobs.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(jobs[0].job().attempt(), attempt);
    FailJobResponse fr;
    grpc::Status s = Fail(id, jobs[0].lease_token(), "err " + std::to_string(attempt), &fr);
    ASSERT_TRUE(s.ok()) << s.error_message();
    states.push_back(fr.state());
    if (fr.state() == "retryable") {
      // base 10s * 2^(attempt-1), no jitter: the Queue's retry policy.
      int64_t delay = 10 << (attempt - 1);
      EXPECT_EQ(fr.next_run_at().seconds(), absl::ToUnixSeconds(clock_.Now()) + delay);
      EXPECT_TRUE(Fetch().empty());  // not due yet
      clock_.Advance(absl::Seconds(delay));
    }
  }
  EXPECT_THAT(states, ElementsAre("retryable", "retryable", "dead"));
  JobRecord dead = Get(id);
  EXPECT_EQ(dead.state(), "dead");
  ASSERT_EQ(dead.errors_size(), 3);
  EXPECT_EQ(dead.errors(2).attempt(), 3);
  EXPECT_EQ(dead.errors(2).message(), "err 3");
}

TEST_F(GrpcServiceTest, FailJobNoRetryDiesAtOnce) {
  std::string id = EnqueueOne("flaky", "x");
  auto jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  FailJobResponse fr;
  ASSERT_TRUE(Fail(id, jobs[0].lease_token(), "bad input", &fr, /*no_retry=*/true).ok());
  EXPECT_EQ(fr.state(), "dead");
  EXPECT_FALSE(fr.has_next_run_at());
}

TEST_F(GrpcServiceTest, FailJobSnoozeSchedulesWithoutUsingAnAttempt) {
  std::string id = EnqueueOne("poll", "x", /*max_attempts=*/1);
  auto jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].job().attempt(), 1);
  FailJobRequest req;
  req.set_job_id(id);
  req.set_lease_token(jobs[0].lease_token());
  req.set_error("not ready");
  req.mutable_snooze()->set_seconds(90);
  FailJobResponse fr;
  grpc::Status s = stub_->FailJob(Ctx().get(), req, &fr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(fr.state(), "scheduled");
  EXPECT_EQ(fr.next_run_at().seconds(), absl::ToUnixSeconds(clock_.Now()) + 90);
  JobRecord job = Get(id);
  EXPECT_EQ(job.state(), "scheduled");
  EXPECT_EQ(job.attempt(), 0);
  EXPECT_EQ(job.errors_size(), 0);
  EXPECT_TRUE(Fetch().empty());  // not due yet
  clock_.Advance(absl::Seconds(90));
  jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].job().attempt(), 1);  // the only attempt, still unused
  ASSERT_TRUE(Complete(id, jobs[0].lease_token(), "done").ok());
}

TEST_F(GrpcServiceTest, FailJobDiscardEndsCancelled) {
  std::string id = EnqueueOne("flaky", "x", /*max_attempts=*/5);
  auto jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  FailJobRequest req;
  req.set_job_id(id);
  req.set_lease_token(jobs[0].lease_token());
  req.set_error("account deleted");
  req.set_discard(true);
  FailJobResponse fr;
  grpc::Status s = stub_->FailJob(Ctx().get(), req, &fr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(fr.state(), "cancelled");
  JobRecord job = Get(id);
  EXPECT_EQ(job.state(), "cancelled");
  ASSERT_EQ(job.errors_size(), 1);
  EXPECT_EQ(job.errors(0).message(), "discarded: account deleted");
}

TEST_F(GrpcServiceTest, FailJobRefusesConflictingOrBadOutcomes) {
  std::string id = EnqueueOne("flaky", "x");
  auto jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  FailJobRequest req;
  req.set_job_id(id);
  req.set_lease_token(jobs[0].lease_token());
  req.set_discard(true);
  req.set_no_retry(true);
  FailJobResponse fr;
  grpc::Status s = stub_->FailJob(Ctx().get(), req, &fr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("at most one"));
  req.set_discard(false);
  req.set_no_retry(false);
  req.mutable_snooze()->set_seconds(-1);
  s = stub_->FailJob(Ctx().get(), req, &fr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("snooze"));
  EXPECT_EQ(Get(id).state(), "running");  // nothing changed
}

TEST_F(GrpcServiceTest, StaleLeaseTokenIsRefused) {
  std::string id = EnqueueOne("slow", "x");
  auto first = Fetch(1, /*lease_seconds=*/5);
  ASSERT_EQ(first.size(), 1u);
  // The first worker goes silent; its lease expires and the job is rescued
  // and handed to another worker.
  clock_.Advance(absl::Seconds(6));
  ASSERT_EQ(queue_->RedistributeJobs().value_or(-1), 1);
  auto second = Fetch(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job().attempt(), 2);
  ASSERT_NE(first[0].lease_token(), second[0].lease_token());

  grpc::Status s = Complete(id, first[0].lease_token(), "stale");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("lease"));
  FailJobResponse fr;
  EXPECT_EQ(Fail(id, first[0].lease_token(), "stale", &fr).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  HeartbeatRequest hb;
  HeartbeatItem* item = hb.add_items();
  item->set_job_id(id);
  item->set_lease_token(first[0].lease_token());
  HeartbeatResponse hr;
  ASSERT_TRUE(stub_->Heartbeat(Ctx().get(), hb, &hr).ok());
  EXPECT_THAT(hr.extended_ids(), IsEmpty());
  EXPECT_THAT(hr.lost_ids(), ElementsAre(id));

  EXPECT_EQ(Get(id).state(), "running");  // the stale worker changed nothing
  ASSERT_TRUE(Complete(id, second[0].lease_token(), "fresh").ok());
  EXPECT_EQ(Get(id).result().value(), "fresh");
}

TEST_F(GrpcServiceTest, CancelOfRunningJobReachesTheWorker) {
  std::string id = EnqueueOne("long", "x");
  auto jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  CancelJobRequest cq;
  cq.set_job_id(id);
  JobRecord cancelled;
  ASSERT_TRUE(stub_->CancelJob(Ctx().get(), cq, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), "running");
  EXPECT_TRUE(cancelled.cancel_requested());

  HeartbeatRequest hb;
  HeartbeatItem* item = hb.add_items();
  item->set_job_id(id);
  item->set_lease_token(jobs[0].lease_token());
  HeartbeatResponse hr;
  ASSERT_TRUE(stub_->Heartbeat(Ctx().get(), hb, &hr).ok());
  EXPECT_THAT(hr.cancel_requested_ids(), ElementsAre(id));
  FailJobResponse fr;
  ASSERT_TRUE(Fail(id, jobs[0].lease_token(), "stopped on request", &fr).ok());
  EXPECT_EQ(fr.state(), "cancelled");
  EXPECT_EQ(Get(id).state(), "cancelled");
}

// Issue 27: a remote job past its timeout keeps its lease while its worker
// heartbeats it (no rescue, no retry beside it); the answer says stop, and
// the job shows the stop request, overdue once stopGrace (5 s) has passed.
TEST_F(GrpcServiceTest, TimedOutRemoteJobKeepsItsLeaseAndIsToldToStop) {
  EnqueueJobsRequest req;
  JobSpec* spec = req.add_jobs();
  spec->set_name("slow");
  spec->mutable_timeout()->set_seconds(10);
  EnqueueJobsResponse resp;
  ASSERT_TRUE(stub_->Enqueue(Ctx().get(), req, &resp).ok());
  const std::string id = resp.results(0).id();
  auto jobs = Fetch(10, /*lease_seconds=*/30);
  ASSERT_EQ(jobs.size(), 1u);
  const absl::Time picked = clock_.Now();
  auto beat = [&]() {
    HeartbeatRequest hb;
    HeartbeatItem* item = hb.add_items();
    item->set_job_id(id);
    item->set_lease_token(jobs[0].lease_token());
    HeartbeatResponse hr;
    grpc::Status s = stub_->Heartbeat(Ctx().get(), hb, &hr);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return hr;
  };
  clock_.Advance(absl::Seconds(5));
  HeartbeatResponse hr = beat();
  EXPECT_THAT(hr.extended_ids(), ElementsAre(id));
  EXPECT_THAT(hr.stop_ids(), IsEmpty());
  EXPECT_FALSE(Get(id).has_stopping());

  clock_.Advance(absl::Seconds(6));  // 11 s: past the 10 s timeout
  hr = beat();
  EXPECT_THAT(hr.extended_ids(), ElementsAre(id));
  EXPECT_THAT(hr.stop_ids(), ElementsAre(id));
  JobRecord job = Get(id);
  EXPECT_EQ(job.state(), "running");
  EXPECT_TRUE(job.timed_out());
  ASSERT_TRUE(job.has_stopping());
  EXPECT_EQ(job.stopping().reason(), "timeout");
  EXPECT_EQ(job.stopping().since().seconds(), absl::ToUnixSeconds(picked) + 10);
  EXPECT_FALSE(job.stopping().overdue());

  // Still heartbeated: the rescuer leaves it alone, well past the first lease.
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(absl::Seconds(20));
    hr = beat();
    EXPECT_THAT(hr.stop_ids(), ElementsAre(id));
    auto rescued = queue_->RedistributeJobs();
    ASSERT_TRUE(rescued.ok()) << rescued.status();
    EXPECT_EQ(*rescued, 0);
  }
  job = Get(id);
  EXPECT_EQ(job.state(), "running");
  EXPECT_EQ(job.attempt(), 1);
  EXPECT_TRUE(job.stopping().overdue());
  EXPECT_EQ(job.stopping().since().seconds(), absl::ToUnixSeconds(picked) + 10);

  FailJobResponse fr;
  ASSERT_TRUE(Fail(id, jobs[0].lease_token(), "stopped after its timeout", &fr).ok());
  EXPECT_EQ(fr.state(), "retryable");
  job = Get(id);
  EXPECT_FALSE(job.has_stopping());  // not running any more
  EXPECT_FALSE(job.timed_out());
}

TEST_F(GrpcServiceTest, WorkerRequestsAreValidated) {
  FetchJobsRequest no_worker;
  FetchJobsResponse fr;
  grpc::Status s = stub_->FetchJobs(Ctx().get(), no_worker, &fr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("worker_id"));
  FetchJobsRequest bad_lease;
  bad_lease.set_worker_id("w");
  bad_lease.set_lease_seconds(-1);
  s = stub_->FetchJobs(Ctx().get(), bad_lease, &fr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("lease_seconds"));
  HeartbeatRequest empty;
  HeartbeatResponse hr;
  s = stub_->Heartbeat(Ctx().get(), empty, &hr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("items"));
  HeartbeatRequest bad_item;
  bad_item.add_items()->set_job_id("1");
  bad_item.add_items()->set_job_id("x");
  s = stub_->Heartbeat(Ctx().get(), bad_item, &hr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("items[0].lease_token"));
}

TEST_F(GrpcServiceTest, MetadataTravelsToTheRemoteWorker) {
  EnqueueJobsRequest req;
  JobSpec* spec = req.add_jobs();
  spec->set_name("traced");
  (*spec->mutable_metadata())["traceparent"] =
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  (*spec->mutable_metadata())["tenant"] = "acme";
  EnqueueJobsResponse resp;
  grpc::Status s = stub_->Enqueue(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<LeasedJob> jobs = Fetch();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].job().metadata().size(), 2u);
  EXPECT_EQ(jobs[0].job().metadata().at("tenant"), "acme");
  EXPECT_EQ(Get(resp.results(0).id()).metadata().at("traceparent"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

  EnqueueJobsRequest bad;
  JobSpec* b = bad.add_jobs();
  b->set_name("traced");
  (*b->mutable_metadata())["no spaces"] = "x";
  s = stub_->Enqueue(Ctx().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[0].metadata"));
}

// --- Workflows, batches and schedules. ---

WorkflowJobSpec Step(const std::string& key, const std::vector<std::string>& parents = {}) {
  WorkflowJobSpec spec;
  spec.set_key(key);
  spec.set_name("step");
  spec.set_data(R"({"key":")" + key + R"("})");
  for (const std::string& p : parents) spec.add_depends_on()->set_key(p);
  return spec;
}

TEST_F(GrpcServiceTest, WorkflowJobsRunAfterTheirParents) {
  EnqueueWorkflowRequest req;
  *req.add_jobs() = Step("extract");
  *req.add_jobs() = Step("load", {"extract"});
  req.mutable_jobs(1)->mutable_depends_on(0)->set_ignore_failure(true);
  EnqueueWorkflowResponse resp;
  grpc::Status s = stub_->EnqueueWorkflow(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.job_ids_size(), 2);
  EXPECT_EQ(resp.id(), resp.job_ids(0));

  GetWorkflowRequest get;
  get.set_workflow_id(resp.id());
  WorkflowRecord wf;
  s = stub_->GetWorkflow(Ctx("").get(), get, &wf);  // a read: no token needed
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(wf.jobs_size(), 2);
  EXPECT_EQ(wf.jobs(0).state(), "available");
  EXPECT_EQ(wf.jobs(0).workflow_id(), resp.id());
  ASSERT_EQ(wf.jobs(0).dependants_size(), 1);
  EXPECT_EQ(wf.jobs(0).dependants(0).id(), resp.job_ids(1));
  EXPECT_EQ(wf.jobs(1).state(), "scheduled");
  EXPECT_EQ(wf.jobs(1).waiting_parents(), 1);
  ASSERT_EQ(wf.jobs(1).parents_size(), 1);
  EXPECT_EQ(wf.jobs(1).parents(0).id(), resp.job_ids(0));
  EXPECT_TRUE(wf.jobs(1).parents(0).ignore_failure());

  // Only the parent is due; once it failed for good, the edge's
  // ignore_failure lets the dependant run anyway.
  std::vector<LeasedJob> first = Fetch();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].job().id(), resp.job_ids(0));
  FailJobResponse fr;
  ASSERT_TRUE(Fail(first[0].job().id(), first[0].lease_token(), "bad input", &fr, true).ok());
  EXPECT_EQ(fr.state(), "dead");
  std::vector<LeasedJob> second = Fetch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job().id(), resp.job_ids(1));
}

TEST_F(GrpcServiceTest, BadWorkflowsNameTheFieldAndStoreNothing) {
  auto enqueue = [&](const EnqueueWorkflowRequest& req) {
    EnqueueWorkflowResponse resp;
    return stub_->EnqueueWorkflow(Ctx().get(), req, &resp);
  };
  struct Case {
    std::string want;  // in the message
    EnqueueWorkflowRequest req;
  };
  std::vector<Case> cases(6);
  cases[0].want = "jobs: must hold 1-10000 jobs, got 0";
  cases[1].want = "jobs[1].depends_on[0]";
  *cases[1].req.add_jobs() = Step("a");
  *cases[1].req.add_jobs() = Step("b", {"zzz"});
  cases[2].want = "cycle";
  *cases[2].req.add_jobs() = Step("a", {"b"});
  *cases[2].req.add_jobs() = Step("b", {"a"});
  cases[3].want = "jobs[0].identifier";
  *cases[3].req.add_jobs() = Step("a");
  cases[3].req.mutable_jobs(0)->set_identifier("once");
  cases[4].want = "jobs[1].key";
  *cases[4].req.add_jobs() = Step("a");
  *cases[4].req.add_jobs() = Step("a");
  cases[5].want = "jobs[0].run_at";
  *cases[5].req.add_jobs() = Step("a");
  cases[5].req.mutable_jobs(0)->mutable_run_at()->set_seconds(-99999999999);
  for (const Case& c : cases) {
    grpc::Status s = enqueue(c.req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.want;
    EXPECT_THAT(s.error_message(), HasSubstr(c.want));
  }
  EnqueueWorkflowRequest big;
  *big.add_jobs() = Step("a");
  big.mutable_jobs(0)->set_data(std::string((1 << 20) + 1, 'x'));
  grpc::Status s = enqueue(big);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[0].data"));
  EnqueueWorkflowResponse resp;
  s = stub_->EnqueueWorkflow(Ctx("").get(), cases[1].req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  ListJobsRequest list;
  ListJobsResponse jobs;
  ASSERT_TRUE(stub_->ListJobs(Ctx().get(), list, &jobs).ok());
  EXPECT_THAT(jobs.jobs(), IsEmpty());  // all or nothing

  GetWorkflowRequest get;
  WorkflowRecord wf;
  get.set_workflow_id("12345");
  EXPECT_EQ(stub_->GetWorkflow(Ctx().get(), get, &wf).error_code(), grpc::StatusCode::NOT_FOUND);
  get.set_workflow_id("x");
  s = stub_->GetWorkflow(Ctx().get(), get, &wf);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("workflow_id"));
}

TEST_F(GrpcServiceTest, BatchCallbacksFollowTheMembers) {
  EnqueueBatchRequest req;
  for (int i = 0; i < 2; ++i) req.add_jobs()->set_name("member");
  req.mutable_on_complete()->set_name("report");
  req.mutable_on_success()->set_name("celebrate");
  EnqueueBatchResponse resp;
  grpc::Status s = stub_->EnqueueBatch(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.job_ids_size(), 2);
  ASSERT_FALSE(resp.on_complete_id().empty());
  ASSERT_FALSE(resp.on_success_id().empty());

  auto progress = [&] {
    GetBatchRequest get;
    get.set_batch_id(resp.id());
    BatchRecord b;
    grpc::Status st = stub_->GetBatch(Ctx("").get(), get, &b);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return b;
  };
  BatchRecord before = progress();
  EXPECT_EQ(before.total(), 2);
  EXPECT_EQ(before.counts().at("available"), 2);
  EXPECT_EQ(before.counts().at("dead"), 0);  // every state is present
  EXPECT_EQ(before.counts_size(), 7);
  EXPECT_FALSE(before.finished());
  EXPECT_EQ(before.on_complete_id(), resp.on_complete_id());

  // One member completes, one fails for good: on_complete runs, on_success
  // is cancelled.
  std::vector<LeasedJob> members = Fetch();
  ASSERT_EQ(members.size(), 2u);
  ASSERT_TRUE(Complete(members[0].job().id(), members[0].lease_token()).ok());
  FailJobResponse fr;
  ASSERT_TRUE(Fail(members[1].job().id(), members[1].lease_token(), "no", &fr, true).ok());
  BatchRecord after = progress();
  EXPECT_TRUE(after.finished());
  EXPECT_FALSE(after.succeeded());
  EXPECT_EQ(after.counts().at("completed"), 1);
  EXPECT_EQ(after.counts().at("dead"), 1);
  EXPECT_EQ(Get(resp.on_complete_id()).state(), "available");
  EXPECT_EQ(Get(resp.on_success_id()).state(), "cancelled");

  EnqueueBatchRequest bad;
  bad.add_jobs()->set_name("member");
  bad.mutable_on_success();  // set, but with no name
  s = stub_->EnqueueBatch(Ctx().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("on_success.name"));
  EnqueueBatchRequest none;
  s = stub_->EnqueueBatch(Ctx().get(), none, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs"));
}

TEST_F(GrpcServiceTest, ListSchedulesShowsTheNextFireInItsZone) {
  EveryOptions every{.time_zone = "America/New_York", .schedule_id = "nightly"};
  every.job.queue = "reports";
  ASSERT_TRUE(queue_->Every("report", "15 2 * * *", "{}", every).ok());
  ListSchedulesResponse resp;
  grpc::Status s = stub_->ListSchedules(Ctx("").get(), ListSchedulesRequest(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.schedules_size(), 1);
  const ScheduleRecord& r = resp.schedules(0);
  EXPECT_EQ(r.id(), "nightly");
  EXPECT_EQ(r.name(), "report");
  EXPECT_EQ(r.cron(), "15 2 * * *");
  EXPECT_EQ(r.time_zone(), "America/New_York");
  EXPECT_EQ(r.queue(), "reports");
  EXPECT_EQ(r.missed(), "skip");
  // The fake clock starts at 2027-01-15 08:00 UTC (03:00 in New York): the
  // next 02:15 EST is the next day's, 07:15 UTC.
  EXPECT_EQ(r.next_fire().seconds(),
            absl::ToUnixSeconds(
                absl::FromCivil(absl::CivilSecond(2027, 1, 16, 7, 15, 0), absl::UTCTimeZone())));
  EXPECT_EQ(r.next_fire_local(), "2027-01-16T02:15:00-05:00");
}

TEST(GrpcServerStart, ReportsAnAddressItCannotBind) {
  TempDir dir;
  QueueConfig config{.db_url = dir.SqliteUrl()};
  config.worker.handle_signals = false;
  auto queue = Queue::Open(config);
  ASSERT_TRUE(queue.ok()) << queue.status();
  auto first = GrpcServer::Start(queue->get(), {.address = "127.0.0.1:0"});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second =
      GrpcServer::Start(queue->get(), {.address = "127.0.0.1:" + std::to_string((*first)->port())});
  EXPECT_FALSE(second.ok());
  (*first)->Stop();
  (*first)->Stop();  // idempotent
}

}  // namespace
}  // namespace popqueue::server
