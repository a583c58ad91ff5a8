// The REST API end to end: HttpServer on a free port over a Queue on a
// temporary SQLite file, exercised with a real HTTP client.
#include "server/http/http_server.h"

#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using testing::Eventually;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using json = nlohmann::json;

QueueConfig TestConfig(const TempDir& dir) {
  QueueConfig c{.db_url = dir.SqliteUrl(), .retries = 0};
  c.worker.poll_interval = absl::Milliseconds(10);
  c.worker.handle_signals = false;
  c.worker.shutdown_deadline = absl::Seconds(5);
  return c;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(HttpOptions{}); }

  void StartServer(HttpOptions options) {
    server_.reset();
    if (queue_ == nullptr) {
      auto q = Queue::Open(TestConfig(dir_));
      ASSERT_TRUE(q.ok()) << q.status();
      queue_ = std::move(*q);
      ASSERT_TRUE(queue_->OnEvent(metrics_.Listener()).ok());
    }
    options.host = "127.0.0.1";
    options.port = 0;
    options.metrics = &metrics_;
    auto s = HttpServer::Start(queue_.get(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  httplib::Result Get(const std::string& path) { return client_->Get(path.c_str()); }
  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& type = "application/json",
                       const std::string& token = "") {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return client_->Post(path.c_str(), h, body, type.c_str());
  }
  httplib::Result Delete(const std::string& path, const std::string& token = "") {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return client_->Delete(path.c_str(), h);
  }

  // Enqueues through the API; returns the id.
  std::string Enqueue(const json& body) {
    auto r = Post("/api/jobs", body.dump());
    EXPECT_TRUE(r) << httplib::to_string(r.error());
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body).value("id", "");
  }

  // Runs workers until `done` holds, with handlers "ok" (succeeds) and
  // "fail" (fails; retries = 0, so the job dies).
  void RunWorkersUntil(const std::function<bool()>& done) {
    ASSERT_TRUE(queue_->StartInBackground().ok());
    EXPECT_TRUE(Eventually(done));
    queue_->Stop();
  }
  void DefineHandlers() {
    ASSERT_TRUE(queue_->Define("ok", [](const Job&) { return true; }).ok());
    ASSERT_TRUE(queue_->Define("fail", [](const Job&) { return false; }).ok());
  }
  int64_t CountState(JobState state) {
    auto counts = queue_->CountByState();
    int64_t n = 0;
    for (const auto& q : *counts) {
      auto it = q.by_state.find(state);
      if (it != q.by_state.end()) n += it->second;
    }
    return n;
  }

  static json Body(const httplib::Result& r) { return json::parse(r->body); }
  static void ExpectError(const httplib::Result& r, int status, const std::string& code,
                          const std::string& field) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("application/json"));
    json body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r->body;
    EXPECT_EQ(body["error"]["code"], code) << r->body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << r->body;
    if (field.empty()) {
      EXPECT_FALSE(body["error"].contains("field")) << r->body;
    } else {
      EXPECT_EQ(body["error"].value("field", ""), field) << r->body;
    }
  }

  TempDir dir_;
  Metrics metrics_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, HealthAndReadiness) {
  auto h = Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(Body(h)["status"], "ok");
  auto r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["status"], "ready");
}

TEST_F(HttpServerTest, ABusyPortIsAnErrorNotASharedListener) {
  HttpOptions options;
  options.host = "127.0.0.1";
  options.port = server_->port();
  auto second = HttpServer::Start(queue_.get(), options);
  ASSERT_FALSE(second.ok()) << "a second server bound port " << options.port;
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("cannot listen"));
}

TEST_F(HttpServerTest, EnqueueThenReadBackThroughEveryReadRoute) {
  auto r = Post("/api/jobs", R"({"name":"email","data":"hello","identifier":"w-1",
                                 "queue":"mail","priority":3,"maxAttempts":5,
                                 "timeoutSeconds":2.5})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  json created = Body(r);
  std::string id = created["id"];
  EXPECT_TRUE(created["inserted"]);
  EXPECT_EQ(created["state"], "available");
  EXPECT_EQ(r->get_header_value("Location"), "/api/jobs/" + id);

  auto get = Get("/api/jobs/" + id);
  ASSERT_TRUE(get);
  ASSERT_EQ(get->status, 200);
  json job = Body(get);
  EXPECT_EQ(job["id"], id);
  EXPECT_EQ(job["name"], "email");
  EXPECT_EQ(job["data"], "hello");
  EXPECT_EQ(job["identifier"], "w-1");
  EXPECT_EQ(job["queue"], "mail");
  EXPECT_EQ(job["priority"], 3);
  EXPECT_EQ(job["maxAttempts"], 5);
  EXPECT_EQ(job["timeoutMs"], 2500);

  // The original README's route: the same job, its state also as "status".
  auto details = Get("/api/job-details?jobId=" + id);
  ASSERT_TRUE(details);
  ASSERT_EQ(details->status, 200);
  json expected = job;
  expected["status"] = job["state"];
  EXPECT_EQ(Body(details), expected);
}

// curl -X GET http://localhost:3000/api/job-details (the original README's
// line): no parameter lists the newest job details, paginated.
TEST_F(HttpServerTest, JobDetailsWithoutParametersListsNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Enqueue({{"name", "n" + std::to_string(i)}}));
  json all = Body(Get("/api/job-details"));
  ASSERT_EQ(all["jobDetails"].size(), 3u) << all;
  EXPECT_TRUE(all["nextBefore"].is_null());
  const json& newest = all["jobDetails"][0];
  EXPECT_EQ(newest["id"], ids[2]);
  for (const char* field :
       {"name", "identifier", "status", "createdAt", "pickedAt", "finishedAt"}) {
    EXPECT_TRUE(newest.contains(field)) << field;
  }
  EXPECT_EQ(newest["name"], "n2");
  EXPECT_EQ(newest["status"], "available");
  EXPECT_TRUE(newest["pickedAt"].is_null());
  EXPECT_EQ(all["jobDetails"][2]["id"], ids[0]);

  json page = Body(Get("/api/job-details?limit=2"));
  ASSERT_EQ(page["jobDetails"].size(), 2u);
  ASSERT_TRUE(page["nextBefore"].is_string());
  json rest = Body(Get("/api/job-details?limit=2&before=" + page["nextBefore"].get<std::string>()));
  ASSERT_EQ(rest["jobDetails"].size(), 1u);
  EXPECT_EQ(rest["jobDetails"][0]["id"], ids[0]);
  EXPECT_EQ(Body(Get("/api/job-details?name=n1"))["jobDetails"][0]["id"], ids[1]);
  EXPECT_EQ(Body(Get("/api/job-details?state=dead"))["jobDetails"].size(), 0u);

  ExpectError(Get("/api/job-details?limit=0"), 400, "INVALID_ARGUMENT", "limit");
  ExpectError(Get("/api/job-details?state=gone"), 400, "INVALID_ARGUMENT", "state");
  ExpectError(Get("/api/job-details?jobId=" + ids[0] + "&limit=2"), 400, "INVALID_ARGUMENT",
              "limit");
}

TEST_F(HttpServerTest, DataMayBeAnyJsonValueAndIsStoredSerialized) {
  std::string id = Enqueue({{"name", "n"}, {"data", {{"to", "a@b.c"}, {"n", {1, 2}}}}});
  EXPECT_EQ(Body(Get("/api/jobs/" + id))["data"], R"({"n":[1,2],"to":"a@b.c"})");
  id = Enqueue({{"name", "n"}, {"data", 42}});
  EXPECT_EQ(Body(Get("/api/jobs/" + id))["data"], "42");
  id = Enqueue({{"name", "n"}});
  EXPECT_EQ(Body(Get("/api/jobs/" + id))["data"], "");
}

TEST_F(HttpServerTest, DuplicateIdentifierReturnsTheExistingJob) {
  std::string id = Enqueue({{"name", "n"}, {"identifier", "once"}});
  auto again = Post("/api/jobs", R"({"name":"n","identifier":"once"})");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(Body(again)["id"], id);
  EXPECT_FALSE(Body(again)["inserted"]);
}

TEST_F(HttpServerTest, SchedulingFields) {
  std::string delayed = Enqueue({{"name", "n"}, {"delaySeconds", 3600}});
  EXPECT_EQ(Body(Get("/api/jobs/" + delayed))["state"], "scheduled");
  std::string at = Enqueue({{"name", "n"}, {"runAt", "2999-01-01T00:00:00Z"}});
  EXPECT_EQ(Body(Get("/api/jobs/" + at))["runAt"], "2999-01-01T00:00:00.000Z");
  std::string scored = Enqueue({{"name", "n"}, {"score", 0}});
  EXPECT_EQ(Body(Get("/api/jobs/" + scored))["state"], "available");
}

TEST_F(HttpServerTest, MalformedAndInvalidBodiesNameTheField) {
  ExpectError(Post("/api/jobs", "{\"name\": "), 400, "INVALID_ARGUMENT", "body");
  ExpectError(Post("/api/jobs", "[1,2]"), 400, "INVALID_ARGUMENT", "body");
  ExpectError(Post("/api/jobs", "{\"name\":\"a\xff\xfe\"}"), 400, "INVALID_ARGUMENT", "body");
  ExpectError(Post("/api/jobs", std::string(100, '[') + std::string(100, ']')), 400,
              "INVALID_ARGUMENT", "body");
  ExpectError(Post("/api/jobs", "{}"), 400, "INVALID_ARGUMENT", "name");
  ExpectError(Post("/api/jobs", R"({"name":7})"), 400, "INVALID_ARGUMENT", "name");
  ExpectError(Post("/api/jobs", R"({"name":""})"), 400, "INVALID_ARGUMENT", "name");
  ExpectError(Post("/api/jobs", R"({"name":"n","priority":"high"})"), 400, "INVALID_ARGUMENT",
              "priority");
  ExpectError(Post("/api/jobs", R"({"name":"n","priority":1.5})"), 400, "INVALID_ARGUMENT",
              "priority");
  ExpectError(Post("/api/jobs", R"({"name":"n","priority":99999999999})"), 400, "INVALID_ARGUMENT",
              "priority");
  ExpectError(Post("/api/jobs", R"({"name":"n","identifier":["x"]})"), 400, "INVALID_ARGUMENT",
              "identifier");
  ExpectError(Post("/api/jobs", R"({"name":"n","runAt":"tomorrow"})"), 400, "INVALID_ARGUMENT",
              "runAt");
  ExpectError(Post("/api/jobs", R"({"name":"n","delaySeconds":-1})"), 400, "INVALID_ARGUMENT",
              "delaySeconds");
  ExpectError(Post("/api/jobs", R"({"name":"n","delaySeconds":5,"score":1})"), 400,
              "INVALID_ARGUMENT", "score");
  ExpectError(Post("/api/jobs", R"({"name":"n","timeoutSeconds":0})"), 400, "INVALID_ARGUMENT",
              "timeoutSeconds");
  ExpectError(Post("/api/jobs", R"({"name":"n","colour":"red"})"), 400, "INVALID_ARGUMENT",
              "colour");
  // Checked by the Queue, named in REST terms.
  ExpectError(Post("/api/jobs", R"({"name":"n","maxAttempts":0})"), 400, "INVALID_ARGUMENT",
              "maxAttempts");
  ExpectError(Post("/api/jobs", R"({"name":"n","queue":"a b"})"), 400, "INVALID_ARGUMENT", "queue");
  ExpectError(Post("/api/jobs", R"({"name":"n","priority":100000000})"), 400, "INVALID_ARGUMENT",
              "priority");
  ExpectError(Post("/api/requeue-job", R"({"jobId":true})"), 400, "INVALID_ARGUMENT", "jobId");
  ExpectError(Post("/api/requeue-job", R"({})"), 400, "INVALID_ARGUMENT", "jobId");
  auto page = queue_->ListJobs(JobFilter{});
  EXPECT_TRUE(page->jobs.empty());
}

TEST_F(HttpServerTest, MetadataIsStoredAndShownAndValidated) {
  std::string id =
      Enqueue({{"name", "n"},
               {"metadata",
                {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                 {"tenant", "acme <b>"}}}});
  json job = Body(Get("/api/jobs/" + id));
  EXPECT_EQ(job["metadata"],
            json({{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                  {"tenant", "acme <b>"}}));
  EXPECT_EQ(Body(Get("/api/jobs/" + Enqueue({{"name", "n"}})))["metadata"], json::object());
  const size_t before = queue_->ListJobs(JobFilter{})->jobs.size();
  ExpectError(Post("/api/jobs", R"({"name":"n","metadata":["a"]})"), 400, "INVALID_ARGUMENT",
              "metadata");
  ExpectError(Post("/api/jobs", R"({"name":"n","metadata":{"tenant":7}})"), 400, "INVALID_ARGUMENT",
              "metadata.tenant");
  ExpectError(Post("/api/jobs", R"({"name":"n","metadata":{"a b":"x"}})"), 400, "INVALID_ARGUMENT",
              "metadata");
  ExpectError(Post("/api/jobs",
                   json({{"name", "n"}, {"metadata", {{"big", std::string(9000, 'x')}}}}).dump()),
              400, "INVALID_ARGUMENT", "metadata");
  EXPECT_EQ(queue_->ListJobs(JobFilter{})->jobs.size(), before);
}

TEST_F(HttpServerTest, ContentTypeAndBodyLimits) {
  ExpectError(Post("/api/jobs", R"({"name":"n"})", "text/plain"), 415, "INVALID_ARGUMENT",
              "Content-Type");
  ExpectError(Post("/api/jobs", R"({"name":"n"})", "application/x-www-form-urlencoded"), 415,
              "INVALID_ARGUMENT", "Content-Type");
  auto charset = Post("/api/jobs", R"({"name":"n"})", "application/json; charset=utf-8");
  ASSERT_TRUE(charset);
  EXPECT_EQ(charset->status, 201) << charset->body;
  ExpectError(Post("/api/jobs", ""), 400, "INVALID_ARGUMENT", "body");

  std::string big = json{{"name", "n"}, {"data", std::string(2 << 20, 'x')}}.dump();
  ExpectError(Post("/api/jobs", big), 413, "RESOURCE_EXHAUSTED", "body");
}

TEST_F(HttpServerTest, BadAndUnknownIds) {
  ExpectError(Get("/api/jobs/abc"), 400, "INVALID_ARGUMENT", "id");
  ExpectError(Get("/api/jobs/-5"), 400, "INVALID_ARGUMENT", "id");
  ExpectError(Get("/api/jobs/99999999999999999999999"), 400, "INVALID_ARGUMENT", "id");
  ExpectError(Get("/api/job-details?jobId=1e5"), 400, "INVALID_ARGUMENT", "jobId");
  ExpectError(Get("/api/job-details?jobId="), 400, "INVALID_ARGUMENT", "jobId");
  ExpectError(Post("/api/jobs/x/cancel", ""), 400, "INVALID_ARGUMENT", "id");
  ExpectError(Delete("/api/jobs/x"), 400, "INVALID_ARGUMENT", "id");
  ExpectError(Get("/api/jobs/12345"), 404, "NOT_FOUND", "");
  ExpectError(Get("/api/job-details?jobId=12345"), 404, "NOT_FOUND", "");
  ExpectError(Post("/api/requeue-job", R"({"jobId":"12345"})"), 404, "NOT_FOUND", "");
  ExpectError(Post("/api/jobs/12345/cancel", ""), 404, "NOT_FOUND", "");
  ExpectError(Post("/api/jobs/12345/retry", ""), 404, "NOT_FOUND", "");
  ExpectError(Delete("/api/jobs/12345"), 404, "NOT_FOUND", "");
}

TEST_F(HttpServerTest, UnknownRoutesAndMethods) {
  ExpectError(Get("/api/nope"), 404, "NOT_FOUND", "");
  auto r = Delete("/api/queues");
  ExpectError(r, 405, "UNIMPLEMENTED", "");
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

TEST_F(HttpServerTest, RequeueDeadJobAndRefuseLiveOnes) {
  DefineHandlers();
  std::string dead = Enqueue({{"name", "fail"}});
  RunWorkersUntil([&] { return CountState(JobState::kDead) == 1; });
  json job = Body(Get("/api/jobs/" + dead));
  EXPECT_EQ(job["state"], "dead");
  ASSERT_EQ(job["errors"].size(), 1u);

  // The original README's route, with the id as a string or a number.
  auto r = Post("/api/requeue-job", json{{"jobId", dead}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  // {"message": <a sentence>, "job": <the requeued job>}
  ASSERT_EQ(Body(r)["job"]["maxAttempts"], 1);
  EXPECT_EQ(Body(r)["message"], "job " + dead + " (fail) requeued: available, 1 attempt left");
  EXPECT_EQ(Body(r)["job"]["state"], "available");
  EXPECT_EQ(Body(r)["job"]["id"], dead);
  // Now available: requeueing again is a conflict.
  ExpectError(Post("/api/requeue-job", absl::StrCat(R"({"jobId":)", dead, "}")), 409,
              "FAILED_PRECONDITION", "");
  ExpectError(Post("/api/jobs/" + dead + "/retry", ""), 409, "FAILED_PRECONDITION", "");
}

TEST_F(HttpServerTest, RunningJobConflictsAndCancel) {
  Notification started, release;
  ASSERT_TRUE(queue_
                  ->Define("block",
                           [&](const Job&) {
                             started.Notify();
                             release.WaitForNotificationWithTimeout(absl::Seconds(30));
                             return true;
                           })
                  .ok());
  std::string id = Enqueue({{"name", "block"}});
  ASSERT_TRUE(queue_->StartInBackground().ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(Body(Get("/api/jobs/" + id))["state"], "running");
  ExpectError(Post("/api/requeue-job", json{{"jobId", id}}.dump()), 409, "FAILED_PRECONDITION", "");
  ExpectError(Delete("/api/jobs/" + id), 409, "FAILED_PRECONDITION", "");
  auto cancel = Post("/api/jobs/" + id + "/cancel", "");
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 200) << cancel->body;
  EXPECT_TRUE(Body(cancel)["cancelRequested"]);
  release.Notify();
  queue_->Stop();
}

TEST_F(HttpServerTest, CancelRetryDelete) {
  std::string id = Enqueue({{"name", "n"}});
  auto c = Post("/api/jobs/" + id + "/cancel", "");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 200) << c->body;
  EXPECT_EQ(Body(c)["state"], "cancelled");
  ExpectError(Post("/api/jobs/" + id + "/cancel", ""), 409, "FAILED_PRECONDITION", "");
  auto retry = Post("/api/jobs/" + id + "/retry", "");
  ASSERT_TRUE(retry);
  ASSERT_EQ(retry->status, 200) << retry->body;
  EXPECT_EQ(Body(retry)["state"], "available");
  auto del = Delete("/api/jobs/" + id);
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(Body(del), (json{{"id", id}, {"deleted", true}}));
  ExpectError(Get("/api/jobs/" + id), 404, "NOT_FOUND", "");
}

TEST_F(HttpServerTest, BatchIsAllOrNothing) {
  auto ok =
      Post("/api/jobs/batch",
           R"({"jobs":[{"name":"a"},{"name":"b","data":{"k":1}},{"name":"c","delaySeconds":60}]})");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 201) << ok->body;
  json results = Body(ok)["results"];
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[2]["state"], "scheduled");
  EXPECT_EQ(Body(Get("/api/jobs/" + results[1]["id"].get<std::string>()))["data"], R"({"k":1})");

  ExpectError(Post("/api/jobs/batch", R"({"jobs":[{"name":"d"},{"name":"e","priority":"x"}]})"),
              400, "INVALID_ARGUMENT", "jobs[1].priority");
  ExpectError(Post("/api/jobs/batch",
                   R"({"jobs":[{"name":"d"},{"name":"e"},{"name":"f","maxAttempts":0}]})"),
              400, "INVALID_ARGUMENT", "jobs[2].maxAttempts");
  ExpectError(Post("/api/jobs/batch", R"({"jobs":[{"name":"d","maxAttempts":0}]})"), 400,
              "INVALID_ARGUMENT", "jobs[0].maxAttempts");
  ExpectError(Post("/api/jobs/batch", R"({"jobs":[]})"), 400, "INVALID_ARGUMENT", "jobs");
  ExpectError(Post("/api/jobs/batch", R"({"jobs":{}})"), 400, "INVALID_ARGUMENT", "jobs");
  ExpectError(Post("/api/jobs/batch", R"({"jobs":[3]})"), 400, "INVALID_ARGUMENT", "jobs[0]");
  ExpectError(Post("/api/jobs/batch", R"({})"), 400, "INVALID_ARGUMENT", "jobs");
  EXPECT_EQ(queue_->ListJobs(JobFilter{})->jobs.size(), 3u);  // nothing else stored
}

TEST_F(HttpServerTest, ListFiltersAndKeysetPagination) {
  for (int i = 0; i < 5; ++i) Enqueue({{"name", "a"}, {"queue", "q1"}});
  Enqueue({{"name", "b"}, {"queue", "q2"}, {"identifier", "special"}});
  Enqueue({{"name", "b"}, {"delaySeconds", 600}});

  auto all = Body(Get("/api/jobs"));
  EXPECT_EQ(all["jobs"].size(), 7u);
  EXPECT_TRUE(all["nextBefore"].is_null());
  EXPECT_EQ(Body(Get("/api/jobs?name=a"))["jobs"].size(), 5u);
  EXPECT_EQ(Body(Get("/api/jobs?queue=q2"))["jobs"].size(), 1u);
  EXPECT_EQ(Body(Get("/api/jobs?identifier=special"))["jobs"][0]["queue"], "q2");
  EXPECT_EQ(Body(Get("/api/jobs?state=scheduled"))["jobs"].size(), 1u);
  EXPECT_EQ(Body(Get("/api/jobs?state=scheduled,available"))["jobs"].size(), 7u);

  std::set<std::string> seen;
  std::string before;
  for (int page = 0; page < 10; ++page) {
    json p = Body(Get("/api/jobs?name=a&limit=2" + (before.empty() ? "" : "&before=" + before)));
    for (const json& j : p["jobs"]) seen.insert(j["id"].get<std::string>());
    if (p["nextBefore"].is_null()) break;
    before = p["nextBefore"];
  }
  EXPECT_EQ(seen.size(), 5u);

  ExpectError(Get("/api/jobs?state=sleeping"), 400, "INVALID_ARGUMENT", "state");
  ExpectError(Get("/api/jobs?limit=0"), 400, "INVALID_ARGUMENT", "limit");
  ExpectError(Get("/api/jobs?limit=abc"), 400, "INVALID_ARGUMENT", "limit");
  ExpectError(Get("/api/jobs?before=zz"), 400, "INVALID_ARGUMENT", "before");
  ExpectError(Get("/api/jobs?colour=red"), 400, "INVALID_ARGUMENT", "colour");
}

TEST_F(HttpServerTest, DeadLetterListsOnlyDeadJobs) {
  DefineHandlers();
  std::string dead = Enqueue({{"name", "fail"}});
  Enqueue({{"name", "ok"}});
  RunWorkersUntil(
      [&] { return CountState(JobState::kDead) == 1 && CountState(JobState::kCompleted) == 1; });
  json p = Body(Get("/api/dead-letter"));
  ASSERT_EQ(p["jobs"].size(), 1u);
  EXPECT_EQ(p["jobs"][0]["id"], dead);
  EXPECT_EQ(Body(Get("/api/dead-letter?name=ok"))["jobs"].size(), 0u);
  ExpectError(Get("/api/dead-letter?state=completed"), 400, "INVALID_ARGUMENT", "state");
}

TEST_F(HttpServerTest, QueuesPauseResume) {
  Enqueue({{"name", "n"}, {"queue", "mail"}});
  auto paused = Post("/api/queues/mail/pause", "");
  ASSERT_TRUE(paused);
  ASSERT_EQ(paused->status, 200) << paused->body;
  EXPECT_EQ(Body(paused), (json{{"name", "mail"}, {"paused", true}}));
  json queues = Body(Get("/api/queues"))["queues"];
  bool found = false;
  for (const json& q : queues) {
    if (q["name"] != "mail") continue;
    found = true;
    EXPECT_TRUE(q["paused"]);
    EXPECT_EQ(q["counts"]["available"], 1);
  }
  EXPECT_TRUE(found) << queues.dump();
  auto resumed = Post("/api/queues/mail/resume", "");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, 200) << resumed->body;
  // Named: a range-for over a member of a temporary would outlive it.
  json after = Body(Get("/api/queues"));
  for (const json& q : after["queues"]) {
    if (q["name"] == "mail") EXPECT_FALSE(q["paused"]);
  }
}

TEST_F(HttpServerTest, Workers) {
  ASSERT_TRUE(queue_->RegisterWorker().ok());
  json workers = Body(Get("/api/workers"))["workers"];
  ASSERT_EQ(workers.size(), 1u) << workers.dump();
  EXPECT_EQ(workers[0]["id"], queue_->worker_id());
}

TEST_F(HttpServerTest, StatsCountsAndSeries) {
  DefineHandlers();
  Enqueue({{"name", "ok"}});
  Enqueue({{"name", "n"}, {"queue", "other"}});
  RunWorkersUntil([&] { return CountState(JobState::kCompleted) == 1; });
  json stats = Body(Get("/api/stats"));
  EXPECT_EQ(stats["totals"]["completed"], 1);
  EXPECT_EQ(stats["totals"]["available"], 1);
  EXPECT_EQ(stats["queues"]["other"]["available"], 1);
  ASSERT_EQ(stats["throughput"].size(), static_cast<size_t>(Metrics::kThroughputMinutes));
  const json& last = stats["throughput"].back();
  EXPECT_EQ(last["completed"], 1);
  EXPECT_EQ(last["enqueued"], 2);
  ASSERT_GE(stats["states"].size(), 1u);
  EXPECT_EQ(stats["states"].back()["counts"]["completed"], 1);
  // This process's effective concurrency (docs/concurrency.md); the server
  // here runs no workers of its own, so every figure is zero.
  ASSERT_TRUE(stats["concurrency"].is_object());
  for (const char* key : {"limit", "configured", "running", "held"}) {
    EXPECT_EQ(stats["concurrency"][key], 0) << key;
  }
  EXPECT_FALSE(stats["concurrency"]["resource_aware"].get<bool>());
}

TEST_F(HttpServerTest, PrometheusMetrics) {
  DefineHandlers();
  Enqueue({{"name", "ok"}});
  Enqueue({{"name", "fail"}});
  RunWorkersUntil(
      [&] { return CountState(JobState::kCompleted) == 1 && CountState(JobState::kDead) == 1; });
  Enqueue({{"name", "waiting"}, {"queue", "lagging"}});
  auto r = Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  const std::string& m = r->body;
  EXPECT_THAT(m, HasSubstr("popqueue_jobs_enqueued_total{name=\"ok\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_jobs_completed_total{name=\"ok\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_jobs_failed_total{name=\"fail\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_jobs_dead_total{name=\"fail\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("# TYPE popqueue_job_duration_seconds histogram"));
  EXPECT_THAT(m, HasSubstr("popqueue_job_duration_seconds_count{name=\"ok\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_job_duration_seconds_bucket{name=\"ok\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_jobs{queue=\"default\",state=\"completed\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_jobs{queue=\"default\",state=\"dead\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_jobs{queue=\"lagging\",state=\"available\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("popqueue_queue_lag_seconds{queue=\"lagging\"} "));
  EXPECT_THAT(m, HasSubstr("popqueue_store_up 1\n"));
}

TEST_F(HttpServerTest, TokenGuardsMutatingRoutesOnly) {
  StartServer(HttpOptions{.token = "s3cret-token"});
  auto none = Post("/api/jobs", R"({"name":"n"})");
  ExpectError(none, 401, "UNAUTHENTICATED", "");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_THAT(none->body, Not(HasSubstr("s3cret")));
  auto wrong = Post("/api/jobs", R"({"name":"n"})", "application/json", "s3cret-tokem");
  ExpectError(wrong, 401, "UNAUTHENTICATED", "");
  ExpectError(Post("/api/jobs", R"({"name":"n"})", "application/json", "s3cret"), 401,
              "UNAUTHENTICATED", "");
  ExpectError(Post("/api/jobs", R"({"name":"n"})", "application/json", "s3cret-token-and-more"),
              401, "UNAUTHENTICATED", "");
  ExpectError(Post("/api/requeue-job", R"({"jobId":"1"})"), 401, "UNAUTHENTICATED", "");
  ExpectError(Post("/api/queues/default/pause", ""), 401, "UNAUTHENTICATED", "");
  ExpectError(Delete("/api/jobs/1"), 401, "UNAUTHENTICATED", "");
  EXPECT_TRUE(queue_->ListJobs(JobFilter{})->jobs.empty());

  auto right = Post("/api/jobs", R"({"name":"n"})", "application/json", "s3cret-token");
  ASSERT_TRUE(right);
  ASSERT_EQ(right->status, 201) << right->body;
  std::string id = Body(right)["id"];
  auto del = Delete("/api/jobs/" + id, "s3cret-token");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  // Reads stay open.
  auto list = Get("/api/jobs");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
}

TEST_F(HttpServerTest, CorsOnlyWhenEnabled) {
  auto off = Get("/api/stats");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->has_header("Access-Control-Allow-Origin"));
  StartServer(HttpOptions{.cors = true});
  auto on = Get("/api/stats");
  ASSERT_TRUE(on);
  EXPECT_EQ(on->get_header_value("Access-Control-Allow-Origin"), "*");
  auto preflight = client_->Options("/api/jobs");
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_THAT(preflight->get_header_value("Access-Control-Allow-Headers"),
              HasSubstr("Authorization"));
}

TEST_F(HttpServerTest, InjectionStringsAreStoredVerbatim) {
  const std::string evil[] = {"'; DROP TABLE jobs; --",
                              "\" OR \"1\"=\"1",
                              "Robert'); DELETE FROM jobs;--",
                              "$(rm -rf /) `id` ${HOME}",
                              "{{7*7}} <%= 7*7 %>",
                              "..%2F..%2Fetc%2Fpasswd",
                              "line1\nline2\r\n\ttab",
                              "emoji \xF0\x9F\x98\x80 ünïcödé",
                              "%s%s%n %x",
                              std::string("nul\0inside", 10)};
  for (const std::string& s : evil) {
    std::string id = Enqueue({{"name", s.substr(0, 60)}, {"identifier", s}, {"data", s}});
    ASSERT_FALSE(id.empty()) << s;
    json job = Body(Get("/api/jobs/" + id));
    EXPECT_EQ(job["data"], s);
    EXPECT_EQ(job["identifier"], s);
    EXPECT_EQ(job["name"], s.substr(0, 60));
    httplib::Params q{{"identifier", s}};
    auto found = Get(httplib::append_query_params("/api/jobs", q));
    ASSERT_TRUE(found);
    ASSERT_EQ(Body(found)["jobs"].size(), 1u) << s;
  }
  EXPECT_EQ(queue_->ListJobs(JobFilter{.limit = 100})->jobs.size(), std::size(evil));
}

TEST_F(HttpServerTest, ScriptPayloadIsReturnedVerbatimAsJson) {
  const std::string payload = "<script>alert(1)</script><img src=x onerror=alert(1)>";
  std::string id = Enqueue({{"name", "n"}, {"data", payload}});
  auto r = Get("/api/jobs/" + id);
  ASSERT_TRUE(r);
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("application/json"));
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(r->body, HasSubstr(payload));
  EXPECT_EQ(Body(r)["data"], payload);
}

TEST_F(HttpServerTest, DashboardIsServedWithAStrictContentSecurityPolicy) {
  auto index = Get("/");
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200);
  EXPECT_THAT(index->get_header_value("Content-Type"), HasSubstr("text/html"));
  EXPECT_THAT(index->get_header_value("Content-Security-Policy"), HasSubstr("script-src 'self'"));
  EXPECT_THAT(index->body, HasSubstr("app.js"));
  for (const char* path : {"/app.js", "/styles.css"}) {
    auto r = Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_FALSE(r->body.empty()) << path;
  }
}

// Every registered route is documented, and every documented operation is
// served.
TEST_F(HttpServerTest, OpenApiDocumentMatchesTheRoutes) {
  auto r = Get("/api/openapi.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json doc = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << "openapi.json is not JSON";
  EXPECT_THAT(doc.value("openapi", ""), ::testing::StartsWith("3."));
  std::set<std::pair<std::string, std::string>> documented, served;
  std::map<std::pair<std::string, std::string>, std::string> scopes;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      documented.emplace(upper, path);
      EXPECT_TRUE(op.contains("responses")) << method << " " << path;
      scopes[{upper, path}] = op.value("x-popqueue-scope", "");
    }
  }
  for (const RouteInfo& route : HttpServer::Routes()) {
    served.emplace(std::string(route.method), std::string(route.path));
    // The document states the token scope each route needs.
    std::pair<std::string, std::string> key(route.method, route.path);
    EXPECT_EQ(scopes[key], ScopeName(route.scope)) << route.method << " " << route.path;
  }
  EXPECT_EQ(documented, served);
}

}  // namespace
}  // namespace popqueue::server
