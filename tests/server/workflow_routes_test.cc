// The workflow and batch routes end to end (docs/composition.md): HttpServer
// on a free port over a Queue on each store compiled in, through a real HTTP
// client, with real workers running the jobs.
//
// Server backends read their URL from POPQUEUE_TEST_<BACKEND>_URL (set by
// scripts/test and scripts/with-services); without it they skip, or fail
// under CI=true.
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"
#include "server/http/http_server.h"
#include "tests/support/store_backends.h"
#include "tests/support/test_util.h"

namespace popqueue::server {
namespace {

using ::testing::ElementsAre;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::TempDir;
using json = nlohmann::json;

constexpr size_t kMaxPayload = 4096;

using Backend = testing::StoreBackend;

// The order in which handlers started, by job data.
class RunLog {
 public:
  void Add(const std::string& data) {
    MutexLock lock(&mu_);
    order_.push_back(data);
  }
  std::vector<std::string> order() {
    MutexLock lock(&mu_);
    return order_;
  }

 private:
  Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
};

class WorkflowRoutesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const Backend& b = GetParam();
    std::string url = dir_.SqliteUrl();
    if (!b.url_env.empty()) {
      const char* env = std::getenv(b.url_env.c_str());
      if (env == nullptr || *env == '\0') {
        const char* ci = std::getenv("CI");
        if (ci != nullptr && std::string(ci) == "true") {
          GTEST_FAIL() << b.url_env << " is not set (CI=true): run through scripts/test";
        }
        GTEST_SKIP() << b.url_env << " is not set: run through scripts/with-services";
      }
      url = env;
    }
    QueueConfig c{.db_url = url,
                  .db_name = b.db_name,
                  .collection = absl::StrCat("wfroutes_", RandomToken() & 0xffffff),
                  .retries = 0,
                  .max_payload_bytes = kMaxPayload};
    c.worker.poll_interval = absl::Milliseconds(10);
    c.worker.handle_signals = false;
    c.worker.shutdown_deadline = absl::Seconds(5);
    auto q = Queue::Open(c);
    ASSERT_TRUE(q.ok()) << q.status();
    queue_ = std::move(*q);
    auto s = HttpServer::Start(queue_.get(), HttpOptions{.host = "127.0.0.1", .port = 0});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  void TearDown() override {
    if (queue_ != nullptr) queue_->Stop();
  }

  httplib::Result Get(const std::string& path) { return client_->Get(path.c_str()); }
  httplib::Result Post(const std::string& path, const std::string& body) {
    return client_->Post(path.c_str(), body, "application/json");
  }
  // GETs `path`, expecting 200; the body as JSON (null on failure).
  json GetJson(const std::string& path) {
    auto r = Get(path);
    EXPECT_TRUE(r) << path;
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  // POSTs `body`, expecting 201; the reply as JSON.
  json Created(const std::string& path, const json& body) {
    auto r = Post(path, body.dump());
    EXPECT_TRUE(r) << path;
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 201) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  // Handlers: "step" logs its data and succeeds, "fail" fails (no retries:
  // the job dies).
  void DefineHandlers() {
    ASSERT_TRUE(queue_
                    ->Define("step",
                             [this](const Job& job) {
                               log_.Add(job.data);
                               return true;
                             })
                    .ok());
    ASSERT_TRUE(queue_->Define("fail", [](const Job&) { return false; }).ok());
  }
  int64_t JobCount() {
    auto page = queue_->ListJobs(JobFilter{.limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? static_cast<int64_t>(page->jobs.size()) : -1;
  }
  std::string StateOf(const json& id) {
    json job = GetJson("/api/jobs/" + id.get<std::string>());
    return job.is_object() ? job.value("state", "") : "";
  }

  TempDir dir_;
  RunLog log_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// Three jobs, "extract" <- "transform" <- "report": stored as asked, read
// back with their states and edges, then run by a worker in order.
TEST_P(WorkflowRoutesTest, AWorkflowIsStoredReadBackAndRunInOrder) {
  DefineHandlers();
  auto r = Post(
      "/api/workflows",
      json{{"jobs",
            {{{"key", "extract"}, {"name", "step"}, {"data", "e"}},
             {{"key", "transform"}, {"name", "step"}, {"data", "t"}, {"dependsOn", {"extract"}}},
             {{"key", "report"},
              {"name", "step"},
              {"data", "r"},
              {"dependsOn",
               {{{"key", "transform"}}, {{"key", "extract"}, {"ignoreFailure", true}}}}}}}}
          .dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  json created = json::parse(r->body);
  const std::string id = created["id"];
  ASSERT_EQ(created["jobIds"].size(), 3u) << created;
  const json ids = created["jobIds"];
  EXPECT_EQ(ids[0], id);  // the workflow's id is its first job's
  EXPECT_EQ(r->get_header_value("Location"), "/api/workflows/" + id);

  json wf = GetJson("/api/workflows/" + id);
  ASSERT_TRUE(wf.is_object());
  EXPECT_EQ(wf["id"], id);
  ASSERT_EQ(wf["jobs"].size(), 3u) << wf;
  std::map<std::string, json> by_id;
  for (const json& job : wf["jobs"]) by_id[job["id"].get<std::string>()] = job;
  ASSERT_EQ(by_id.size(), 3u);
  const json& extract = by_id[ids[0]];
  const json& transform = by_id[ids[1]];
  const json& report = by_id[ids[2]];
  for (const json* job : {&extract, &transform, &report}) EXPECT_EQ((*job)["workflowId"], id);
  EXPECT_EQ(extract["state"], "available");
  EXPECT_EQ(extract["waitingParents"], 0);
  EXPECT_EQ(extract["parents"], json::array());
  EXPECT_EQ(extract["dependants"], (json{{{"id", ids[1]}, {"ignoreFailure", false}},
                                         {{"id", ids[2]}, {"ignoreFailure", true}}}));
  EXPECT_EQ(transform["state"], "scheduled");
  EXPECT_EQ(transform["waitingParents"], 1);
  EXPECT_EQ(transform["parents"], (json{{{"id", ids[0]}, {"ignoreFailure", false}}}));
  EXPECT_EQ(transform["dependants"], (json{{{"id", ids[2]}, {"ignoreFailure", false}}}));
  EXPECT_EQ(report["state"], "scheduled");
  EXPECT_EQ(report["waitingParents"], 2);
  EXPECT_EQ(report["parents"].size(), 2u);
  EXPECT_EQ(report["data"], "r");

  ASSERT_TRUE(queue_->StartInBackground().ok());
  EXPECT_TRUE(Eventually([&] {
    json now = GetJson("/api/workflows/" + id);
    if (!now.is_object()) return false;
    for (const json& job : now["jobs"]) {
      if (job["state"] != "completed") return false;
    }
    return true;
  })) << GetJson("/api/workflows/" + id).dump();
  queue_->Stop();
  EXPECT_THAT(log_.order(), ElementsAre("e", "t", "r"));
  json done = GetJson("/api/workflows/" + id);
  for (const json& job : done["jobs"]) EXPECT_EQ(job["waitingParents"], 0) << job;
}

// A dead parent cancels its dependant over a normal edge; a run-anyway edge
// lets the other run.
TEST_P(WorkflowRoutesTest, ADeadParentCancelsAndRunAnywayRuns) {
  DefineHandlers();
  json created =
      Created("/api/workflows", {{"jobs",
                                  {{{"name", "fail"}},
                                   {{"name", "step"}, {"data", "normal"}, {"dependsOn", {"0"}}},
                                   {{"name", "step"},
                                    {"data", "anyway"},
                                    {"dependsOn", {{{"key", "0"}, {"ignoreFailure", true}}}}}}}});
  ASSERT_TRUE(created.is_object());
  const json ids = created["jobIds"];
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(queue_->StartInBackground().ok());
  EXPECT_TRUE(Eventually([&] {
    return StateOf(ids[0]) == "dead" && StateOf(ids[1]) == "cancelled" &&
           StateOf(ids[2]) == "completed";
  }));
  queue_->Stop();
  EXPECT_THAT(log_.order(), ElementsAre("anyway"));
}

struct BatchCase {
  std::string name;
  std::vector<std::string> members;  // handler names
  bool succeeded;
  std::string on_success_state;  // the onSuccess callback's final state
};

// A batch with both callbacks: its progress before and after a worker ran
// it, and which callback ran.
TEST_P(WorkflowRoutesTest, ABatchReportsProgressAndReleasesItsCallbacks) {
  DefineHandlers();
  const BatchCase cases[] = {
      {"all complete", {"step", "step", "step"}, true, "completed"},
      {"one dies", {"step", "fail", "step"}, false, "cancelled"},
  };
  // Both batches are enqueued, then one worker runs them.
  std::vector<json> enqueued;
  for (const BatchCase& bc : cases) {
    SCOPED_TRACE(bc.name);
    json members = json::array();
    for (size_t i = 0; i < bc.members.size(); ++i) {
      members.push_back({{"name", bc.members[i]}, {"data", absl::StrCat(bc.name, " ", i)}});
    }
    auto r = Post("/api/batches",
                  json{{"jobs", members},
                       {"onComplete", {{"name", "step"}, {"data", bc.name + " complete"}}},
                       {"onSuccess", {{"name", "step"}, {"data", bc.name + " success"}}}}
                      .dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    json b = json::parse(r->body);
    const std::string id = b["id"];
    EXPECT_EQ(r->get_header_value("Location"), "/api/batches/" + id);
    ASSERT_EQ(b["jobIds"].size(), bc.members.size());
    ASSERT_TRUE(b["onCompleteId"].is_string()) << b;
    ASSERT_TRUE(b["onSuccessId"].is_string()) << b;

    json before = GetJson("/api/batches/" + id);
    ASSERT_TRUE(before.is_object());
    EXPECT_EQ(before["id"], id);
    EXPECT_EQ(before["total"], bc.members.size());
    EXPECT_EQ(before["counts"]["available"], bc.members.size());
    EXPECT_EQ(before["counts"]["completed"], 0);
    EXPECT_FALSE(before["finished"]);
    EXPECT_FALSE(before["succeeded"]);
    EXPECT_EQ(before["onCompleteId"], b["onCompleteId"]);
    EXPECT_EQ(before["onSuccessId"], b["onSuccessId"]);
    EXPECT_EQ(StateOf(b["onCompleteId"]), "scheduled");  // waiting for the members
    EXPECT_EQ(StateOf(b["onSuccessId"]), "scheduled");
    enqueued.push_back(b);
  }

  ASSERT_TRUE(queue_->StartInBackground().ok());
  EXPECT_TRUE(Eventually([&] {
    for (size_t k = 0; k < std::size(cases); ++k) {
      if (StateOf(enqueued[k]["onCompleteId"]) != "completed" ||
          StateOf(enqueued[k]["onSuccessId"]) != cases[k].on_success_state) {
        return false;
      }
    }
    return true;
  }));
  queue_->Stop();
  for (size_t k = 0; k < std::size(cases); ++k) {
    const BatchCase& bc = cases[k];
    SCOPED_TRACE(bc.name);
    json after = GetJson("/api/batches/" + enqueued[k]["id"].get<std::string>());
    ASSERT_TRUE(after.is_object());
    EXPECT_TRUE(after["finished"]) << after;
    EXPECT_EQ(after["succeeded"], bc.succeeded) << after;
    int64_t failed = 0;
    for (const std::string& m : bc.members) failed += m == "fail";
    EXPECT_EQ(after["counts"]["dead"], failed) << after;
    EXPECT_EQ(after["counts"]["completed"], static_cast<int64_t>(bc.members.size()) - failed)
        << after;
    EXPECT_EQ(after["counts"]["available"], 0) << after;
    EXPECT_EQ(after["total"], bc.members.size());  // the callbacks are not members
  }
  // Each callback ran at most once: once on_complete per batch, on_success
  // only for the batch that succeeded.
  std::vector<std::string> callbacks;
  for (const std::string& d : log_.order()) {
    if (d.ends_with(" complete") || d.ends_with(" success")) callbacks.push_back(d);
  }
  EXPECT_THAT(callbacks, ::testing::UnorderedElementsAre(
                             "all complete complete", "all complete success", "one dies complete"));
}

struct BadInput {
  std::string path;
  json body;
  int status;
  std::string field;
  std::string message;  // a part of the message
};

// Bad input: the status, a JSON error naming the field, and nothing stored.
TEST_P(WorkflowRoutesTest, BadInputNamesTheFieldAndStoresNothing) {
  json too_many = json::array();
  for (size_t i = 0; i <= kMaxWorkflowJobs; ++i) too_many.push_back({{"name", "n"}});
  const std::string big(kMaxPayload + 1, 'x');
  const json ok = {{"name", "n"}};
  const BadInput cases[] = {
      {"/api/workflows",
       {{"jobs", {{{"key", "a"}, {"name", "n"}}, {{"name", "n"}, {"dependsOn", {"b"}}}}}},
       400,
       "jobs[1].dependsOn[0]",
       "no job with key \"b\""},
      {"/api/workflows",
       {{"jobs",
         {{{"key", "a"}, {"name", "n"}, {"dependsOn", {"b"}}},
          {{"key", "b"}, {"name", "n"}, {"dependsOn", {"a"}}}}}},
       400,
       "jobs[1].dependsOn[0]",
       "cycle"},
      {"/api/workflows",
       {{"jobs",
         {ok,
          {{"key", "x"}, {"name", "n"}, {"dependsOn", {"0", "y"}}},
          {{"key", "y"}, {"name", "n"}, {"dependsOn", {"x"}}}}}},
       400,
       "jobs[2].dependsOn[0]",
       "cycle"},
      {"/api/workflows",
       {{"jobs", {{{"key", "a"}, {"name", "n"}, {"dependsOn", {"a"}}}}}},
       400,
       "jobs[0].dependsOn[0]",
       "itself"},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"dependsOn", {"0", "0"}}}}}},
       400,
       "jobs[1].dependsOn[1]",
       "twice"},
      {"/api/workflows",
       {{"jobs", {{{"key", "a"}, {"name", "n"}}, {{"key", "a"}, {"name", "n"}}}}},
       400,
       "jobs[1].key",
       "earlier job"},
      {"/api/workflows", {{"jobs", json::array()}}, 400, "jobs", "1-10000"},
      {"/api/workflows", json::object(), 400, "jobs", "required"},
      {"/api/workflows", {{"jobs", ok}}, 400, "jobs", "array"},
      {"/api/workflows", {{"jobs", too_many}}, 400, "jobs", "got 10001"},
      {"/api/workflows", {{"jobs", {ok}}, {"onComplete", ok}}, 400, "onComplete", "unknown field"},
      {"/api/workflows", {{"jobs", {ok, 7}}}, 400, "jobs[1]", "object"},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"identifier", "once"}}}}},
       400,
       "jobs[1].identifier",
       "identifier"},
      {"/api/workflows",
       {{"jobs", {ok, ok, {{"name", "n"}, {"maxAttempts", 0}}}}},
       400,
       "jobs[2].maxAttempts",
       ""},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"dependsOn", "0"}}}}},
       400,
       "jobs[1].dependsOn",
       "array"},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"dependsOn", {{{"key", "0"}, {"colour", 1}}}}}}}},
       400,
       "jobs[1].dependsOn[0].colour",
       "unknown field"},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"dependsOn", {{{"key", "0"}, {"ignoreFailure", "yes"}}}}}}}},
       400,
       "jobs[1].dependsOn[0].ignoreFailure",
       "boolean"},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"dependsOn", {{{"ignoreFailure", true}}}}}}}},
       400,
       "jobs[1].dependsOn[0].key",
       "required"},
      {"/api/workflows",
       {{"jobs", {ok, {{"name", "n"}, {"key", 3}}}}},
       400,
       "jobs[1].key",
       "string"},
      {"/api/workflows", {{"jobs", {ok, {{"name", "n"}, {"data", big}}}}}, 413, "jobs[1].data", ""},
      {"/api/batches", {{"jobs", json::array()}}, 400, "jobs", ""},
      {"/api/batches", {{"jobs", too_many}}, 400, "jobs", "got 10001"},
      {"/api/batches",
       {{"jobs", {ok, {{"name", "n"}, {"dependsOn", {"0"}}}}}},
       400,
       "jobs[1].dependsOn",
       "unknown field"},
      {"/api/batches",
       {{"jobs", {ok}}, {"onComplete", {{"name", "n"}, {"maxAttempts", 0}}}},
       400,
       "onComplete.maxAttempts",
       ""},
      {"/api/batches",
       {{"jobs", {ok}}, {"onSuccess", {{"name", "n"}, {"identifier", "x"}}}},
       400,
       "onSuccess.identifier",
       "identifier"},
      {"/api/batches", {{"jobs", {ok}}, {"onSuccess", {{"name", ""}}}}, 400, "onSuccess.name", ""},
      {"/api/batches", {{"jobs", {ok}}, {"onSuccess", "notify"}}, 400, "onSuccess", "object"},
      {"/api/batches", {{"jobs", {ok}}, {"onFailure", ok}}, 400, "onFailure", "unknown field"},
      {"/api/batches",
       {{"jobs", {ok}}, {"onComplete", {{"name", "n"}, {"data", big}}}},
       413,
       "onComplete.data",
       ""},
      {"/api/batches", {{"jobs", {ok, {{"name", "n"}, {"data", big}}}}}, 413, "jobs[1].data", ""},
  };
  for (const BadInput& c : cases) {
    const std::string body = c.body.dump();
    SCOPED_TRACE(c.path + " " + body.substr(0, 200));
    auto r = Post(c.path, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << r->body;
    EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("application/json"));
    json error = json::parse(r->body, nullptr, false)["error"];
    ASSERT_TRUE(error.is_object()) << r->body;
    EXPECT_EQ(error.value("field", ""), c.field) << r->body;
    EXPECT_THAT(error.value("message", ""), HasSubstr(c.message)) << r->body;
    EXPECT_EQ(error.value("code", ""), c.status == 413 ? "RESOURCE_EXHAUSTED" : "INVALID_ARGUMENT");
  }
  EXPECT_EQ(JobCount(), 0);  // no partial workflow, no partial batch
}

TEST_P(WorkflowRoutesTest, UnknownIdsAre404AndBadIds400) {
  auto plain = queue_->Enqueue("n", "alone");
  ASSERT_TRUE(plain.ok()) << plain.status();
  for (const std::string kind : {"workflows", "batches"}) {
    SCOPED_TRACE(kind);
    for (const std::string& id : {std::string("12345"), absl::StrCat(plain->id)}) {
      auto r = Get("/api/" + kind + "/" + id);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 404) << id << ": " << r->body;
      json error = json::parse(r->body, nullptr, false)["error"];
      EXPECT_EQ(error.value("code", ""), "NOT_FOUND") << r->body;
      EXPECT_THAT(error.value("message", ""), HasSubstr(id)) << r->body;
    }
    for (const char* id : {"abc", "-5", "1e5", "99999999999999999999999"}) {
      auto r = Get("/api/" + kind + "/" + id);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << id << ": " << r->body;
      EXPECT_EQ(json::parse(r->body, nullptr, false)["error"].value("field", ""), "id") << id;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, WorkflowRoutesTest,
                         ::testing::ValuesIn(testing::CompiledStoreBackends()),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace popqueue::server
