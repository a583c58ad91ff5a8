// Bad input through the REST door, and the server's security properties:
// every route answers as its token scope says (the route table is walked for
// each scope), the single token keeps its meaning, every mutation leaves one
// audit line without payload or secret, oversized payloads get 413 under
// configurable limits, malformed or hostile input gets a clear error and
// changes nothing, raw protocol garbage does not hurt the server, secrets
// never reach the log, and the dashboard has no way to turn data into code.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"
#include "server/http/http_server.h"
#include "tests/support/stderr_capture.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using json = nlohmann::json;

constexpr char kToken[] = "rest-secret-token-5a1b";
constexpr char kReadSecret[] = "viewer-secret-7f3a9c1e55";
constexpr char kWriteSecret[] = "producer-secret-2b8d4e0a77";
constexpr char kAdminSecret[] = "operator-secret-9c6e1f3b22";

std::vector<AccessToken> ScopedTokens() {
  return {{"viewer", Scope::kRead, kReadSecret},
          {"producer", Scope::kWrite, kWriteSecret},
          {"operator", Scope::kAdmin, kAdminSecret}};
}

class RestSecurityTest : public ::testing::Test {
 protected:
  void Start(HttpOptions options, size_t max_payload_bytes = 1 << 20) {
    QueueConfig config{
        .db_url = dir_.SqliteUrl(), .retries = 0, .max_payload_bytes = max_payload_bytes};
    config.worker.handle_signals = false;
    auto q = Queue::Open(config);
    ASSERT_TRUE(q.ok()) << q.status();
    queue_ = std::move(*q);
    options.host = "127.0.0.1";
    options.port = 0;
    auto s = HttpServer::Start(queue_.get(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  httplib::Result Send(const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& token = "",
                       const std::string& type = "application/json") {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    if (method == "POST") return client_->Post(path.c_str(), h, body, type.c_str());
    if (method == "DELETE") return client_->Delete(path.c_str(), h);
    return client_->Get(path.c_str(), h);
  }

  int64_t JobCount() {
    auto page = queue_->ListJobs(JobFilter{.limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? static_cast<int64_t>(page->jobs.size()) : -1;
  }

  // A 4xx with the JSON error shape and a message that says something.
  static void ExpectClearError(const httplib::Result& r, int status, const std::string& what) {
    ASSERT_TRUE(r) << what << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, status) << what << ": " << r->body;
    json body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << what << ": " << r->body;
    EXPECT_FALSE(body["error"].value("message", "").empty()) << what;
    EXPECT_FALSE(body["error"].value("code", "").empty()) << what;
  }

  TempDir dir_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// The route table is walked, so a route added later is covered too.
TEST_F(RestSecurityTest, EveryMutatingRouteNeedsTheToken) {
  Start(HttpOptions{.token = kToken});
  auto job = queue_->Enqueue("n", "x");
  ASSERT_TRUE(job.ok());
  std::string id = absl::StrCat(job->id);
  int mutating = 0;
  for (const RouteInfo& route : HttpServer::Routes()) {
    std::string path =
        absl::StrReplaceAll(std::string(route.path), {{"{id}", id}, {"{name}", "default"}});
    std::string method(route.method);
    std::string body = R"({"name":"n","jobId":")" + id + R"(","jobs":[{"name":"n"}]})";
    if (method == "GET") {
      auto r = Send(method, path);
      ASSERT_TRUE(r) << path;
      EXPECT_NE(r->status, 401) << "GET " << path << " should not need the token";
      continue;
    }
    ++mutating;
    for (const std::string& token : {std::string(""), std::string("wrong"),
                                     std::string(kToken) + "x", std::string("bearer")}) {
      auto r = Send(method, path, body, token);
      ExpectClearError(r, 401, method + " " + path + " with token '" + token + "'");
      if (r) EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
    }
  }
  EXPECT_GE(mutating, 8);
  // Nothing changed: the one job is still there, available, not paused.
  EXPECT_EQ(JobCount(), 1);
  EXPECT_EQ(queue_->GetJob(job->id)->state, JobState::kAvailable);
  auto queues = queue_->ListQueues();
  ASSERT_TRUE(queues.ok());
  for (const QueueInfo& q : *queues) EXPECT_FALSE(q.paused) << q.name;
  // The right token works, in any case of the scheme.
  auto ok = client_->Post("/api/jobs", {{"Authorization", std::string("bEaReR ") + kToken}},
                          R"({"name":"n"})", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201) << ok->body;
}

TEST_F(RestSecurityTest, OversizedPayloadsGet413UnderConfigurableLimits) {
  Start(HttpOptions{.max_body_bytes = 8192}, /*max_payload_bytes=*/1000);
  // Within the limit.
  auto fits =
      Send("POST", "/api/jobs", json{{"name", "n"}, {"data", std::string(1000, 'a')}}.dump());
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 201) << fits->body;
  // The payload limit of the Queue.
  auto big =
      Send("POST", "/api/jobs", json{{"name", "n"}, {"data", std::string(1001, 'a')}}.dump());
  ExpectClearError(big, 413, "payload over max_payload_bytes");
  EXPECT_EQ(json::parse(big->body)["error"]["field"], "data");
  // A batch is all or nothing, and names the item.
  json batch = {{"jobs", {{{"name", "a"}}, {{"name", "b"}, {"data", std::string(2000, 'b')}}}}};
  auto b = Send("POST", "/api/jobs/batch", batch.dump());
  ExpectClearError(b, 413, "batch item over max_payload_bytes");
  EXPECT_EQ(json::parse(b->body)["error"]["field"], "jobs[1].data");
  // The body limit of the server.
  auto body =
      Send("POST", "/api/jobs", json{{"name", "n"}, {"data", std::string(9000, 'c')}}.dump());
  ExpectClearError(body, 413, "body over max_body_bytes");
  EXPECT_EQ(json::parse(body->body)["error"]["field"], "body");
  EXPECT_EQ(JobCount(), 1);
}

TEST_F(RestSecurityTest, MalformedBodiesGetAClearErrorAndStoreNothing) {
  Start(HttpOptions{});
  const std::vector<std::string> bad = {
      "{",
      "{\"name\":\"n\",}",
      "{'name':'n'}",
      "null",
      "[]",
      "\"just a string\"",
      "{\"name\":\"n\"} trailing",
      "{\"name\":1}",
      "{\"name\":[\"n\"]}",
      "{\"name\":\"n\",\"priority\":\"high\"}",
      "{\"name\":\"n\",\"priority\":1.5}",
      "{\"name\":\"n\",\"priority\":1e400}",
      "{\"name\":\"n\",\"maxAttempts\":-1}",
      "{\"name\":\"n\",\"maxAttempts\":18446744073709551616}",
      "{\"name\":\"n\",\"delaySeconds\":-1}",
      "{\"name\":\"n\",\"runAt\":\"yesterday\"}",
      "{\"name\":\"n\",\"runAt\":\"2026-01-01T00:00:00Z\",\"delaySeconds\":1}",
      "{\"name\":\"n\",\"unknown\":1}",
      "{\"name\":\"\"}",
      "{\"name\":\"n\xff\xfe\"}",                    // invalid UTF-8 in a string
      "{\"name\":\"n\",\"data\":\"\xc3\x28\"}",      // invalid UTF-8 in the payload
      "{\"name\":\"n\",\"data\":\"\xed\xa0\x80\"}",  // a UTF-16 surrogate in UTF-8
      "{\"name\":\"a\nb\"}",                         // raw control character
      std::string("{\"name\":\"n\0\"}", 13),         // raw NUL
      std::string(200, '[') + std::string(200, ']'),
      "{\"name\":\"n\",\"data\":" + std::string(100, '[') + std::string(100, ']') + "}",
      "{\"jobs\":[]}",
      "{\"jobId\":\"1\"}",
  };
  for (const std::string& body : bad) {
    ExpectClearError(Send("POST", "/api/jobs", body), 400, "POST /api/jobs " + body);
  }
  for (const std::string& body : {std::string("{\"jobs\":{}}"), std::string("{\"jobs\":[1]}"),
                                  std::string("{\"jobs\":[{\"name\":\"a\"},{\"name\":2}]}"),
                                  std::string("{\"jobs\":[{\"name\":\"a\xff\"}]}")}) {
    ExpectClearError(Send("POST", "/api/jobs/batch", body), 400, "batch " + body);
  }
  for (const std::string& body :
       {std::string("{\"jobId\":true}"), std::string("{\"jobId\":-3}"),
        std::string("{\"jobId\":\"1 OR 1=1\"}"), std::string("{\"jobId\":1.5}")}) {
    ExpectClearError(Send("POST", "/api/requeue-job", body), 400, "requeue " + body);
  }
  EXPECT_EQ(JobCount(), 0);
  // The server is still healthy and takes good input.
  auto good = Send("POST", "/api/jobs", R"({"name":"n","data":"\u00e9\ud83d\ude00"})");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 201) << good->body;
  EXPECT_EQ(JobCount(), 1);
}

TEST_F(RestSecurityTest, HostileQueryStringsAndPathsNeverFailTheServer) {
  Start(HttpOptions{});
  ASSERT_TRUE(queue_->Enqueue("n", "x").ok());
  const std::vector<std::string> paths = {
      "/api/jobs?limit=0",
      "/api/jobs?limit=-1",
      "/api/jobs?limit=99999999999999999999",
      "/api/jobs?state=available%00",
      "/api/jobs?state=%ff%fe",
      "/api/jobs?before=1%20OR%201%3D1",
      "/api/jobs?x=1",
      "/api/job-details?jobId=%27%3B%20DROP%20TABLE%20jobs%3B--",
      "/api/job-details?jobId=",
      "/api/job-details?jobId=1&limit=5",
      "/api/job-details?limit=1001",
      "/api/jobs/1e5",
      "/api/jobs/0x10",
      "/api/jobs/99999999999999999999",
      "/api/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/api/dead-letter?state=available",
  };
  for (const std::string& path : paths) {
    auto r = Send("GET", path);
    ASSERT_TRUE(r) << path;
    EXPECT_GE(r->status, 400) << path << ": " << r->body;
    EXPECT_LT(r->status, 500) << path << ": " << r->body;
  }
  // Injection strings in filters are data: they match nothing.
  for (const std::string& q : {std::string("identifier=%27%20OR%20%271%27%3D%271"),
                               std::string("name=%7B%22%24ne%22%3A1%7D"),
                               std::string("queue=%24where"), std::string("name=%ff%fe")}) {
    auto r = Send("GET", "/api/jobs?" + q);
    ASSERT_TRUE(r) << q;
    EXPECT_EQ(r->status, 200) << q << ": " << r->body;
    EXPECT_TRUE(json::parse(r->body)["jobs"].empty()) << q;
  }
  EXPECT_EQ(JobCount(), 1);
}

// Raw bytes on the socket: request-line garbage, oversized headers and
// truncated requests are refused, and the server keeps serving.
TEST_F(RestSecurityTest, ProtocolGarbageIsRefusedAndTheServerSurvives) {
  Start(HttpOptions{});
  auto raw = [&](const std::string& bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!write(fd, bytes.data(), bytes.size());
    shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
    close(fd);
    return reply;
  };
  EXPECT_THAT(raw("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n"),
              Not(HasSubstr("200 OK")));
  EXPECT_THAT(raw("GARBAGE\r\n\r\n"), Not(HasSubstr("200 OK")));
  EXPECT_THAT(
      raw("GET /api/jobs HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 << 10, 'a') + "\r\n\r\n"),
      Not(HasSubstr("200 OK")));
  EXPECT_THAT(raw("POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100\r\n\r\n{\"name\":"),
              Not(HasSubstr("201")));
  EXPECT_THAT(raw("POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 99999999999999999999999\r\n\r\n{}"),
              Not(HasSubstr("201")));
  EXPECT_THAT(raw("POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
              Not(HasSubstr("201")));
  auto health = Send("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(JobCount(), 0);
}

// With debug logging on, a request carrying the token (right or wrong) and
// a hostile path leaves no secret in the log.
TEST_F(RestSecurityTest, TheTokenNeverReachesTheLog) {
  Start(HttpOptions{.token = kToken});
  std::string log_path = dir_.path() + "/stderr.log";
  fflush(stderr);
  int saved = dup(2);
  FILE* log = fopen(log_path.c_str(), "w");
  ASSERT_NE(log, nullptr);
  dup2(fileno(log), 2);
  SetLogLevel(LogLevel::kDebug);
  Send("POST", "/api/jobs", R"({"name":"n"})", kToken);
  Send("POST", "/api/jobs", R"({"name":"n"})", std::string(kToken) + "-wrong");
  Send("GET", std::string("/api/jobs?identifier=") + kToken);
  SetLogLevel(LogLevel::kInfo);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(log);
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("http: POST"));  // the log was captured
  EXPECT_THAT(text.str(), Not(HasSubstr("Bearer")));
  EXPECT_THAT(text.str(), Not(HasSubstr(std::string(kToken) + "-wrong")));
}

// Job data shown in the dashboard can never become markup or code: the page
// only uses text sinks, and the policy forbids inline and foreign scripts.
TEST_F(RestSecurityTest, DashboardKeepsJobDataInert) {
  Start(HttpOptions{});
  const std::string payload = "<script>alert(1)</script><img src=x onerror=alert(2)>";
  auto job = queue_->Enqueue("<b>name</b>", payload, {.identifier = "<i>id</i>"});
  ASSERT_TRUE(job.ok());
  auto js = Send("GET", "/app.js");
  ASSERT_TRUE(js);
  ASSERT_EQ(js->status, 200);
  for (const char* sink : {".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write",
                           "eval(", "new Function", "setTimeout(\"", "setInterval(\""}) {
    EXPECT_THAT(js->body, Not(HasSubstr(sink))) << "app.js uses the HTML/code sink " << sink;
  }
  auto page = Send("GET", "/");
  ASSERT_TRUE(page);
  std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-eval")));
  // The API hands the payload back as JSON data, never as HTML.
  auto r = Send("GET", absl::StrCat("/api/jobs/", job->id));
  ASSERT_TRUE(r);
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("application/json"));
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(json::parse(r->body)["data"], payload);
}

// Prepares what a successful call of `route` needs (a fresh job; a
// cancelled one for the requeue routes; a workflow or a batch for their
// reads) and returns the path and body.
std::pair<std::string, std::string> Prepare(Queue& queue, const RouteInfo& route) {
  auto job = queue.Enqueue("n", "payload-must-not-be-logged");
  EXPECT_TRUE(job.ok()) << job.status();
  std::string id = absl::StrCat(job->id);
  std::string_view path_view = route.path;
  if (path_view == "/api/requeue-job" || path_view == "/api/jobs/{id}/retry") {
    EXPECT_TRUE(queue.Cancel(job->id).ok());
  }
  if (path_view == "/api/workflows/{id}") {
    auto wf = queue.EnqueueWorkflow(
        {{.key = "a", .name = "n"}, {.key = "b", .name = "m", .depends_on = {{.key = "a"}}}});
    EXPECT_TRUE(wf.ok()) << wf.status();
    if (wf.ok()) id = absl::StrCat(wf->id);
  }
  if (path_view == "/api/batches/{id}") {
    auto b =
        queue.EnqueueBatch({.jobs = {{.name = "n"}}, .on_complete = WorkflowStep{.name = "done"}});
    EXPECT_TRUE(b.ok()) << b.status();
    if (b.ok()) id = absl::StrCat(b->id);
  }
  std::string path =
      absl::StrReplaceAll(std::string(route.path), {{"{id}", id}, {"{name}", "default"}});
  std::string body;
  if (path_view == "/api/requeue-job") body = R"({"jobId":")" + id + R"("})";
  if (path_view == "/api/jobs") body = R"({"name":"n","data":"payload-must-not-be-logged"})";
  if (path_view == "/api/jobs/batch") body = R"({"jobs":[{"name":"n"},{"name":"m"}]})";
  if (path_view == "/api/workflows") {
    body = R"({"jobs":[{"key":"a","name":"n","data":"payload-must-not-be-logged"},)"
           R"({"name":"m","dependsOn":["a"]}]})";
  }
  if (path_view == "/api/batches") {
    body = R"({"jobs":[{"name":"n","data":"payload-must-not-be-logged"}],)"
           R"("onComplete":{"name":"done"},"onSuccess":{"name":"ok"}})";
  }
  return {path, body};
}

// Walks the route table once per credential: no token, a wrong one, and a
// token of each scope. Every route answers 401 (no or a wrong token), 403
// naming the scope it needs (a valid token of a smaller scope), or success,
// as its scope says; open routes answer without a token.
TEST_F(RestSecurityTest, EveryRouteAnswersAsItsScopeSays) {
  Start(HttpOptions{.tokens = ScopedTokens()});
  const struct {
    std::string secret;
    std::optional<Scope> scope;  // nullopt: not a valid token
  } callers[] = {{"", std::nullopt},
                 {"not-a-token-at-all-0000", std::nullopt},
                 {kReadSecret, Scope::kRead},
                 {kWriteSecret, Scope::kWrite},
                 {kAdminSecret, Scope::kAdmin}};
  std::map<Scope, int> routes_of;
  for (const RouteInfo& route : HttpServer::Routes()) {
    ++routes_of[route.scope];
    std::string method(route.method);
    for (const auto& caller : callers) {
      auto [path, body] = Prepare(*queue_, route);
      std::string what =
          method + " " + std::string(route.path) + " with " +
          (caller.scope ? std::string(ScopeName(*caller.scope)) : "'" + caller.secret + "'");
      auto r = Send(method, path, body, caller.secret);
      ASSERT_TRUE(r) << what;
      if (route.scope == Scope::kOpen || (caller.scope && *caller.scope >= route.scope)) {
        EXPECT_GE(r->status, 200) << what << ": " << r->body;
        EXPECT_LT(r->status, 300) << what << ": " << r->body;
        continue;
      }
      int want = caller.scope ? 403 : 401;
      ExpectClearError(r, want, what);
      json error = json::parse(r->body, nullptr, false)["error"];
      EXPECT_EQ(error.value("requiredScope", ""), ScopeName(route.scope)) << what;
      EXPECT_EQ(error.value("code", ""), want == 401 ? "UNAUTHENTICATED" : "PERMISSION_DENIED");
      if (want == 401) EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer") << what;
      if (want == 403) {
        EXPECT_THAT(error.value("message", ""),
                    HasSubstr("needs scope " + std::string(ScopeName(route.scope))));
      }
      EXPECT_THAT(r->body, Not(HasSubstr(caller.secret.empty() ? "\x01" : caller.secret)));
    }
  }
  // The table has routes of every scope (a table that lost its scopes
  // would pass the loop trivially).
  EXPECT_GE(routes_of[Scope::kOpen], 5);
  EXPECT_GE(routes_of[Scope::kRead], 7);
  EXPECT_GE(routes_of[Scope::kWrite], 2);
  EXPECT_GE(routes_of[Scope::kAdmin], 6);
  // The README's two routes: reading needs read, requeueing admin; and the
  // rules no table edit may break: every POST and DELETE needs write or
  // more, every API read a token.
  for (const RouteInfo& route : HttpServer::Routes()) {
    if (route.method != "GET") EXPECT_GE(route.scope, Scope::kWrite) << route.path;
    std::string_view p = route.path;
    if ((p.starts_with("/api/") && p != "/api/openapi.json") || p == "/metrics") {
      EXPECT_GE(route.scope, Scope::kRead) << route.path;
    }
    if (route.path == "/api/job-details") EXPECT_EQ(route.scope, Scope::kRead);
    if (route.path == "/api/requeue-job") EXPECT_EQ(route.scope, Scope::kAdmin);
    if (route.path == "/healthz" || route.path == "/readyz") EXPECT_EQ(route.scope, Scope::kOpen);
  }
}

TEST_F(RestSecurityTest, PublicReadsKeepReadsOpenWithScopedTokens) {
  Start(HttpOptions{.tokens = ScopedTokens(), .public_reads = true});
  ASSERT_TRUE(queue_->Enqueue("n", "x").ok());
  for (const RouteInfo& route : HttpServer::Routes()) {
    auto [path, body] = Prepare(*queue_, route);
    auto r = Send(std::string(route.method), path, body);
    ASSERT_TRUE(r);
    if (route.scope <= Scope::kRead) {
      EXPECT_EQ(r->status, 200) << route.path << ": " << r->body;
    } else {
      EXPECT_EQ(r->status, 401) << route.path;
    }
  }
}

// The original single token with scoped tokens beside it: still admin, and
// reads now need a token (any scope), which it is.
TEST_F(RestSecurityTest, TheSingleTokenIsAnAdminTokenBesideScopedOnes) {
  Start(HttpOptions{.token = kToken, .tokens = ScopedTokens()});
  auto job = queue_->Enqueue("n", "x");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(Send("GET", "/api/job-details")->status, 401);
  EXPECT_EQ(Send("GET", "/api/job-details", "", kToken)->status, 200);
  EXPECT_EQ(Send("GET", "/api/job-details", "", kReadSecret)->status, 200);
  EXPECT_EQ(Send("POST", absl::StrCat("/api/jobs/", job->id, "/cancel"), "", kToken)->status, 200);
}

TEST_F(RestSecurityTest, BadTokenOptionsStopTheServer) {
  QueueConfig config{.db_url = dir_.SqliteUrl(), .retries = 0};
  config.worker.handle_signals = false;
  auto q = Queue::Open(config);
  ASSERT_TRUE(q.ok());
  auto s = HttpServer::Start(q->get(), {.port = 0, .tokens = {{"a", Scope::kRead, "short"}}});
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("secret of token \"a\""));
  s = HttpServer::Start(q->get(), {.port = 0, .public_reads = false});
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
}

// One INFO line per mutation, allowed or refused: who (the token id), what,
// the status and which job or queue. Reads leave none; payloads, queries and
// secrets never appear.
TEST_F(RestSecurityTest, EveryMutationLeavesOneAuditLine) {
  Start(HttpOptions{.tokens = ScopedTokens()});
  auto job = queue_->Enqueue("n", "x");
  ASSERT_TRUE(job.ok());
  std::string id = absl::StrCat(job->id);
  std::string log;
  std::string enqueued;
  {
    ::popqueue::testing::StderrCapture capture(dir_.path() + "/stderr.log");
    ASSERT_TRUE(capture.ok());
    auto created =
        Send("POST", "/api/jobs",
             R"({"name":"n","queue":"mail","data":"payload-must-not-be-logged"})", kWriteSecret);
    ASSERT_EQ(created->status, 201);
    enqueued = json::parse(created->body)["id"];
    EXPECT_EQ(Send("POST", "/api/jobs/" + id + "/cancel", "", kWriteSecret)->status, 403);
    EXPECT_EQ(Send("POST", "/api/jobs/" + id + "/cancel", "", "wrong-token-value-1234")->status,
              401);
    EXPECT_EQ(Send("POST", "/api/jobs/" + id + "/cancel", "", kAdminSecret)->status, 200);
    EXPECT_EQ(
        Send("POST", "/api/requeue-job", R"({"jobId":")" + id + R"("})", kAdminSecret)->status,
        200);
    EXPECT_EQ(Send("POST", "/api/queues/mail/pause", "", kAdminSecret)->status, 200);
    EXPECT_EQ(Send("DELETE", "/api/jobs/" + enqueued, "", kAdminSecret)->status, 200);
    EXPECT_EQ(Send("GET", "/api/jobs?identifier=x", "", kReadSecret)->status, 200);
    EXPECT_EQ(Send("GET", "/api/jobs/" + id, "", kAdminSecret)->status, 200);
    log = capture.text();
  }
  std::vector<std::string> audit;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("audit: ") != std::string::npos) audit.push_back(line);
  }
  ASSERT_EQ(audit.size(), 7u) << log;
  const std::string expected[] = {
      "INFO  popqueue: audit: token=producer POST /api/jobs -> 201 job=" + enqueued + " queue=mail",
      "INFO  popqueue: audit: token=producer POST /api/jobs/" + id + "/cancel -> 403 job=" + id,
      "INFO  popqueue: audit: token=- POST /api/jobs/" + id + "/cancel -> 401 job=" + id,
      "INFO  popqueue: audit: token=operator POST /api/jobs/" + id + "/cancel -> 200 job=" + id,
      "INFO  popqueue: audit: token=operator POST /api/requeue-job -> 200 job=" + id,
      "INFO  popqueue: audit: token=operator POST /api/queues/mail/pause -> 200 queue=mail",
      "INFO  popqueue: audit: token=operator DELETE /api/jobs/" + enqueued +
          " -> 200 job=" + enqueued,
  };
  for (size_t i = 0; i < audit.size(); ++i) {
    EXPECT_THAT(audit[i], ::testing::EndsWith(expected[i])) << i;
  }
  for (const char* secret : {kReadSecret, kWriteSecret, kAdminSecret, "wrong-token-value-1234",
                             "payload-must-not-be-logged", "Bearer", "identifier=x"}) {
    EXPECT_THAT(log, Not(HasSubstr(secret)));
  }
}

}  // namespace
}  // namespace popqueue::server
