// Runs the real `popqueue` binary against a temporary SQLite file and checks
// its output and exit codes (0 ok, 1 operation failed, 2 usage error).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"
#include "popqueue/remote_worker.h"
#include "popqueue/workflow.h"
#include "tests/support/run_cli.h"
#if POPQUEUE_WITH_REDIS
#include "tests/redis/redis_cluster_env.h"
#endif

extern char** environ;

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

using Result = ::popqueue::testing::CliResult;
using ::popqueue::testing::ReadWholeFile;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    db_url_ = "sqlite://" + dir_ + "/test.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts `popqueue worker --db-url <db> <args>` with stdout and stderr on
  // /dev/null; the caller stops it (SIGTERM) and reaps it.
  pid_t SpawnWorker(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s = {POPQUEUE_CLI_PATH, "worker", "--db-url", db_url_};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv = ::popqueue::testing::NullTerminated(argv_s);
    pid_t pid = 0;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << std::strerror(rc);
    return rc == 0 ? pid : -1;
  }

  // Runs popqueue with `args` (plus --db-url unless `with_db` is false),
  // `stdin_data` on stdin and `env` added to a copy of the environment
  // without the variables the CLI reads. Kills it after `timeout`.
  Result Run(std::vector<std::string> args, bool with_db = true, const std::string& stdin_data = "",
             const std::map<std::string, std::string>& env = {},
             std::chrono::seconds timeout = std::chrono::seconds(60)) {
    if (with_db) {
      args.push_back("--db-url");
      args.push_back(db_url_);
    }
    std::vector<std::string> extra;
    for (const auto& [k, v] : env) extra.push_back(k + "=" + v);
    return ::popqueue::testing::RunCli(POPQUEUE_CLI_PATH, args, dir_, stdin_data, extra, timeout);
  }

  // Enqueues and returns the printed id.
  std::string Enqueue(std::vector<std::string> args) {
    args.insert(args.begin(), "enqueue");
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string id = r.out.substr(0, r.out.find('\n'));
    EXPECT_FALSE(id.empty());
    return id;
  }

  json RunJson(std::vector<std::string> args) {
    args.push_back("--json");
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  std::string dir_;
  std::string db_url_;
};

TEST_F(CliTest, HelpOnEveryCommand) {
  Result top = Run({"--help"}, false);
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("Usage: popqueue <command>"));
  for (const char* cmd :
       {"enqueue", "jobs", "job", "requeue", "cancel", "delete", "pause", "resume", "stats",
        "workers", "migrate", "worker", "workflow", "batch", "schedules"}) {
    Result r = Run({cmd, "--help"}, false);
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr(std::string("Usage: popqueue ") + cmd)) << cmd;
    EXPECT_THAT(r.out, HasSubstr("--db-url")) << cmd;
    EXPECT_TRUE(top.out.find(std::string("  ") + cmd + " ") != std::string::npos)
        << cmd << " missing from the top-level help";
  }
  Result help_cmd = Run({"help", "jobs"}, false);
  EXPECT_EQ(help_cmd.exit_code, 0);
  EXPECT_THAT(help_cmd.out, HasSubstr("Usage: popqueue jobs"));
}

TEST_F(CliTest, EnqueueThenListAsJson) {
  std::string id = Enqueue(
      {"email", "--data", R"({"to":"a@example.com"})", "--queue", "mail", "--priority", "3"});
  json page = RunJson({"jobs"});
  ASSERT_EQ(page["jobs"].size(), 1u) << page.dump();
  const json& job = page["jobs"][0];
  EXPECT_EQ(job["id"], id);
  EXPECT_EQ(job["name"], "email");
  EXPECT_EQ(job["queue"], "mail");
  EXPECT_EQ(job["priority"], 3);
  EXPECT_EQ(job["state"], "available");
  EXPECT_EQ(job["data"], R"({"to":"a@example.com"})");
  EXPECT_TRUE(page.contains("nextBefore"));

  // The table form shows the same job.
  Result table = Run({"jobs"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("ID"));
  EXPECT_THAT(table.out, HasSubstr(id));
  EXPECT_THAT(table.out, HasSubstr("email"));

  // Filters.
  EXPECT_EQ(RunJson({"jobs", "--queue", "other"})["jobs"].size(), 0u);
  EXPECT_EQ(RunJson({"jobs", "--state", "available,scheduled"})["jobs"].size(), 1u);
  EXPECT_EQ(RunJson({"jobs", "--state=dead"})["jobs"].size(), 0u);
  EXPECT_EQ(RunJson({"jobs", "--name", "email"})["jobs"].size(), 1u);
}

TEST_F(CliTest, Pagination) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Enqueue({"n"}));
  json first = RunJson({"jobs", "--limit", "2"});
  ASSERT_EQ(first["jobs"].size(), 2u);
  EXPECT_EQ(first["jobs"][0]["id"], ids[4]);  // newest first
  ASSERT_TRUE(first["nextBefore"].is_string()) << first.dump();
  std::vector<std::string> seen;
  json page = first;
  for (int guard = 0; guard < 10; ++guard) {
    for (const json& j : page["jobs"]) seen.push_back(j["id"]);
    if (!page["nextBefore"].is_string()) break;
    page = RunJson({"jobs", "--limit", "2", "--before", page["nextBefore"].get<std::string>()});
  }
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));
}

TEST_F(CliTest, DuplicateIdentifierReturnsTheSameId) {
  std::string first = Enqueue({"report", "--identifier", "daily"});
  Result again = Run({"enqueue", "report", "--identifier", "daily"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, first + "\n");
  EXPECT_THAT(again.err, HasSubstr("duplicate of existing job"));
  json j = RunJson({"enqueue", "report", "--identifier", "daily"});
  EXPECT_EQ(j["id"], first);
  EXPECT_EQ(j["inserted"], false);
  EXPECT_EQ(RunJson({"jobs"})["jobs"].size(), 1u);
}

TEST_F(CliTest, DataFromStdinAndFile) {
  std::string from_stdin = [&] {
    Result r = Run({"enqueue", "x", "--data", "-"}, true, "line1\nline2");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }();
  EXPECT_EQ(RunJson({"job", from_stdin})["data"], "line1\nline2");

  std::ofstream(dir_ + "/payload.json") << R"({"k":1})";
  std::string from_file = Enqueue({"x", "--data-file", dir_ + "/payload.json"});
  EXPECT_EQ(RunJson({"job", from_file})["data"], R"({"k":1})");

  Result missing = Run({"enqueue", "x", "--data-file", dir_ + "/nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("--data-file"));
}

TEST_F(CliTest, JobShowsEveryField) {
  std::string id = Enqueue({"resize", "--data", "img-1", "--identifier", "img-1", "--max-attempts",
                            "7", "--timeout", "45s"});
  json job = RunJson({"job", id});
  EXPECT_EQ(job["id"], id);
  EXPECT_EQ(job["identifier"], "img-1");
  EXPECT_EQ(job["maxAttempts"], 7);
  EXPECT_EQ(job["attempt"], 0);
  EXPECT_EQ(job["timeoutMs"], 45000);
  EXPECT_TRUE(job["errors"].is_array());
  for (const char* key :
       {"runAt", "createdAt", "pickedAt", "finishedAt", "workerId", "result", "progress"}) {
    EXPECT_TRUE(job.contains(key)) << key;
  }
  Result text = Run({"job", id});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("resize"));
  EXPECT_THAT(text.out, HasSubstr("0 of 7"));
  EXPECT_THAT(text.out, HasSubstr("errors:"));
}

// A running job past its timeout, still heartbeated by its worker (here a
// remote one, through the store): `popqueue job` says it is stopping.
TEST_F(CliTest, JobShowsTheStopRequestOfARunningJob) {
  std::string id = Enqueue({"transcode", "--timeout", "1s"});
  popqueue::QueueConfig config{.db_url = db_url_};
  config.worker.handle_signals = false;
  popqueue::Queue queue(config);
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  popqueue::RemoteWorkerApi remote(queue);
  auto got = remote.FetchJobs({.worker_id = "w-remote", .limit = 1, .lease = absl::Minutes(5)});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  absl::SleepFor(absl::Milliseconds(1100));
  auto beat = remote.Heartbeat({{.id = (*got)[0].id, .lease_token = (*got)[0].lease_token}},
                               absl::Minutes(5));
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->stop.size(), 1u);
  json job = RunJson({"job", id});
  EXPECT_EQ(job["state"], "running");
  EXPECT_EQ(job["timedOut"], true);
  EXPECT_EQ(job["stopping"]["reason"], "timeout");
  EXPECT_EQ(job["stopping"]["overdue"], false);
  EXPECT_TRUE(job["stopping"]["since"].is_string());
  Result text = Run({"job", id});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("stopping:"));
  EXPECT_THAT(text.out, HasSubstr("timed out since"));
  EXPECT_THAT(text.out, HasSubstr("waiting for the handler to return"));
}

TEST_F(CliTest, DelayAndScoreScheduleTheJob) {
  std::string delayed = Enqueue({"later", "--delay", "1h"});
  EXPECT_EQ(RunJson({"job", delayed})["state"], "scheduled");
  std::string scored = Enqueue({"later", "--score", "4102444800"});  // 2100
  json job = RunJson({"job", scored});
  EXPECT_EQ(job["state"], "scheduled");
  EXPECT_EQ(job["runAt"], "2100-01-01T00:00:00.000Z");
  std::string past = Enqueue({"now", "--score", "1000"});
  EXPECT_EQ(RunJson({"job", past})["state"], "available");
}

TEST_F(CliTest, CancelRequeueDelete) {
  std::string id = Enqueue({"task"});
  Result cancel = Run({"cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr("cancelled job " + id));
  EXPECT_EQ(RunJson({"job", id})["state"], "cancelled");

  // A finished job cannot be cancelled again: an operation error.
  Result again = Run({"cancel", id});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("popqueue: "));

  Result requeue = Run({"requeue", id});
  EXPECT_EQ(requeue.exit_code, 0) << requeue.err;
  EXPECT_THAT(requeue.out, HasSubstr("available"));
  EXPECT_EQ(RunJson({"job", id})["state"], "available");

  // An available job cannot be requeued.
  EXPECT_EQ(Run({"requeue", id}).exit_code, 1);

  Result del = Run({"delete", id});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(Run({"job", id}).exit_code, 1);
}

TEST_F(CliTest, UnknownIdIsAnOperationError) {
  for (const char* cmd : {"job", "cancel", "requeue", "delete"}) {
    Result r = Run({cmd, "123456789"});
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("popqueue: ")) << cmd;
    EXPECT_THAT(r.err, HasSubstr("123456789")) << cmd;
  }
}

TEST_F(CliTest, WorkflowAndBatchShowStatesEdgesAndProgress) {
  std::string wf_id, batch_id, first, second;
  {
    popqueue::QueueConfig config{.db_url = db_url_};
    config.worker.handle_signals = false;
    popqueue::Queue queue(config);
    ASSERT_TRUE(queue.status().ok()) << queue.status();
    auto wf = queue.EnqueueWorkflow({{.key = "fetch", .name = "fetch"},
                                     {.key = "report",
                                      .name = "report",
                                      .depends_on = {{.key = "fetch", .ignore_failure = true}}}});
    ASSERT_TRUE(wf.ok()) << wf.status();
    wf_id = std::to_string(wf->id);
    first = std::to_string(wf->job_ids[0]);
    second = std::to_string(wf->job_ids[1]);
    auto batch = queue.EnqueueBatch({.jobs = {{.name = "resize"}, {.name = "resize"}},
                                     .on_complete = popqueue::WorkflowStep{.name = "notify"}});
    ASSERT_TRUE(batch.ok()) << batch.status();
    batch_id = std::to_string(batch->id);
  }
  Result table = Run({"workflow", wf_id});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("workflow " + wf_id + ": 2 jobs"));
  EXPECT_THAT(table.out, HasSubstr("waiting(1)"));
  EXPECT_THAT(table.out, HasSubstr(first + " (run anyway)"));
  json wf = RunJson({"workflow", wf_id});
  EXPECT_EQ(wf["id"], wf_id);
  ASSERT_EQ(wf["jobs"].size(), 2u);
  EXPECT_EQ(wf["jobs"][1]["id"], second);
  EXPECT_EQ(wf["jobs"][1]["waitingParents"], 1);

  Result progress = Run({"batch", batch_id});
  ASSERT_EQ(progress.exit_code, 0) << progress.err;
  EXPECT_THAT(progress.out, HasSubstr("batch " + batch_id + ": 2 jobs, in progress"));
  EXPECT_THAT(progress.out, HasSubstr("on_complete job: "));
  json b = RunJson({"batch", batch_id});
  EXPECT_EQ(b["total"], 2);
  EXPECT_EQ(b["counts"]["available"], 2);
  EXPECT_EQ(b["finished"], false);

  for (const char* cmd : {"workflow", "batch"}) {
    Result unknown = Run({cmd, "123456789"});
    EXPECT_EQ(unknown.exit_code, 1) << cmd << ": " << unknown.err;
    EXPECT_THAT(unknown.err, HasSubstr("123456789")) << cmd;
    Result bad = Run({cmd, "not-an-id"});
    EXPECT_EQ(bad.exit_code, 2) << cmd << ": " << bad.err;
    EXPECT_THAT(bad.err, HasSubstr("<id>")) << cmd;
  }
}

TEST_F(CliTest, UsageErrorsExitTwoAndNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string mention;
  };
  std::vector<Case> cases = {
      {{"enqueue", "x", "--priority", "high"}, "--priority"},
      {{"enqueue", "x", "--delay", "5"}, "--delay"},
      {{"enqueue", "x", "--delay", "5s", "--score", "10"}, "--score"},
      {{"enqueue", "x", "--score", "tomorrow"}, "--score"},
      {{"enqueue", "x", "--max-attempts", "0"}, "--max-attempts"},
      {{"enqueue", "x", "--data", "a", "--data-file", "b"}, "--data-file"},
      {{"enqueue"}, "<name>"},
      {{"enqueue", "x", "--bogus"}, "--bogus"},
      {{"enqueue", "x", "--priority"}, "--priority"},
      {{"jobs", "--state", "finished"}, "--state"},
      {{"jobs", "--limit", "0"}, "--limit"},
      {{"jobs", "--before", "abc"}, "--before"},
      {{"jobs", "extra"}, "extra"},
      {{"job", "abc"}, "<id>"},
      {{"job"}, "<id>"},
      {{"cancel", "-5"}, "-5"},
      {{"requeue", "12x"}, "<id>"},
      {{"frobnicate"}, "frobnicate"},
      {{"worker", "--concurrency", "many"}, "--concurrency"},
      {{"worker"}, "--exec"},
      {{"worker", "--exec", "noequals"}, "--exec"},
      {{"worker", "--demo-exit-when-done"}, "--demo"},
      {{"stats", "--json=maybe"}, "--json"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(c.args) << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("popqueue: ")) << ::testing::PrintToString(c.args);
    EXPECT_THAT(r.err, HasSubstr(c.mention)) << ::testing::PrintToString(c.args);
    EXPECT_EQ(r.out, "") << ::testing::PrintToString(c.args);
  }
}

TEST_F(CliTest, FlagFormsAndGlobalFlagsBeforeTheCommand) {
  std::string id = Enqueue({"--data=x=y", "n", "--queue=q1"});
  json job = RunJson({"job", id});
  EXPECT_EQ(job["data"], "x=y");
  EXPECT_EQ(job["queue"], "q1");
  // Connection flags may precede the command.
  Result r = Run({"--db-url", db_url_, "jobs", "--json"}, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(id));
}

TEST_F(CliTest, DbUrlPrecedenceFlagOverEnvironment) {
  std::string env_url = "sqlite://" + dir_ + "/env.db";
  Result enq = Run({"enqueue", "from-env"}, false, "", {{"DB_URL", env_url}});
  ASSERT_EQ(enq.exit_code, 0) << enq.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/env.db"));
  // The flag wins over the environment: test.db has no jobs.
  Result flag = Run({"jobs", "--json"}, true, "", {{"DB_URL", env_url}});
  ASSERT_EQ(flag.exit_code, 0) << flag.err;
  EXPECT_EQ(json::parse(flag.out)["jobs"].size(), 0u);
  Result env = Run({"jobs", "--json"}, false, "", {{"DB_URL", env_url}});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(json::parse(env.out)["jobs"].size(), 1u);
}

#if POPQUEUE_WITH_REDIS
// Issue 18's report: on a 3-master cluster `popqueue enqueue --db-url
// redis://127.0.0.1:7000 --collection jobs` failed with MOVED when the slot
// of {jobs} sat on another master. With ?cluster=1 it works naming only
// that first node; without, the error says what to add.
TEST_F(CliTest, EnqueueOnARedisClusterNamingOneNode) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  auto view = ::popqueue::testing::ClusterView::Load();
  ASSERT_GE(view.masters.size(), 2u);
  const std::string collection = ::popqueue::testing::CollectionOn(view, 1, "cli_jobs");
  ::popqueue::testing::ScopedKeys cleanup(collection);
  const std::string node = view.masters[0].Endpoint();
  Result bad =
      Run({"enqueue", "x", "--db-url", "redis://" + node, "--collection", collection}, false);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("cluster=1"));
  const std::string url = "redis://" + node + "/?cluster=1";
  Result enq = Run({"enqueue", "x", "--db-url", url, "--collection", collection}, false);
  ASSERT_EQ(enq.exit_code, 0) << enq.err;
  Result list = Run({"jobs", "--json", "--db-url", url, "--collection", collection}, false);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out)["jobs"].size(), 1u);
}
#endif

TEST_F(CliTest, BadDbUrlIsReported) {
  Result r = Run({"jobs", "--db-url", "nosuchdb://x"}, false);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("popqueue: "));
  EXPECT_THAT(r.err, HasSubstr("nosuchdb"));
}

TEST_F(CliTest, StatsPauseResumeWorkersMigrate) {
  Result migrate = Run({"migrate"});
  EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
  EXPECT_THAT(migrate.out, HasSubstr("store ready"));
  EXPECT_EQ(Run({"migrate"}).exit_code, 0);  // idempotent

  Enqueue({"a", "--queue", "q1"});
  Enqueue({"a", "--queue", "q1", "--delay", "1h"});
  Enqueue({"b", "--queue", "q2"});
  Result pause = Run({"pause", "q1"});
  EXPECT_EQ(pause.exit_code, 0) << pause.err;
  json stats = RunJson({"stats"});
  EXPECT_EQ(stats["counts"]["q1"]["available"], 1) << stats.dump();
  EXPECT_EQ(stats["counts"]["q1"]["scheduled"], 1) << stats.dump();
  EXPECT_EQ(stats["counts"]["q2"]["available"], 1) << stats.dump();
  EXPECT_EQ(stats["totals"]["available"], 2) << stats.dump();
  EXPECT_EQ(stats["paused"], json::array({"q1"})) << stats.dump();
  Result table = Run({"stats"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("paused"));

  EXPECT_EQ(Run({"resume", "q1"}).exit_code, 0);
  EXPECT_EQ(RunJson({"stats"})["paused"], json::array());

  json workers = RunJson({"workers"});
  EXPECT_TRUE(workers["workers"].is_array());
}

TEST_F(CliTest, WorkerRunsExecHandlers) {
  std::string ok = Enqueue({"shout", "--data", "hello"});
  std::string bad = Enqueue({"fail", "--max-attempts", "1"});
  // Run the worker until both jobs are final, then stop it with SIGTERM.
  pid_t pid = SpawnWorker({"--exec", "shout=tr a-z A-Z", "--exec", "fail=echo broken >&2; exit 3"});
  ASSERT_GT(pid, 0);
  bool done = false;
  for (int i = 0; i < 300 && !done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    json a = RunJson({"job", ok});
    json b = RunJson({"job", bad});
    done = a["state"] == "completed" && b["state"] == "dead";
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(done);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  json a = RunJson({"job", ok});
  EXPECT_EQ(a["result"], "HELLO");
  json b = RunJson({"job", bad});
  ASSERT_EQ(b["errors"].size(), 1u) << b.dump();
  EXPECT_THAT(b["errors"][0]["message"].get<std::string>(), HasSubstr("exit status 3: broken"));
}

// --meta KEY=VALUE on enqueue; `job` shows the metadata; an --exec command
// gets the trace context as TRACEPARENT (the OpenTelemetry environment
// carrier) and all of it as POPQUEUE_JOB_METADATA.
TEST_F(CliTest, MetadataReachesExecHandlersAsTheirEnvironment) {
  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  std::string id = Enqueue({"trace", "--meta", "traceparent=" + trace, "--meta", "tenant=acme"});
  Result shown = Run({"job", id});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("  tenant = acme\n"));
  EXPECT_THAT(shown.out, HasSubstr("  traceparent = " + trace + "\n"));
  EXPECT_EQ(RunJson({"job", id})["metadata"]["tenant"], "acme");
  for (const auto& [args, mention] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"enqueue", "x", "--meta", "novalue"}, "--meta"},
           {{"enqueue", "x", "--meta", "a=1", "--meta", "a=2"}, "given twice"},
           {{"enqueue", "x", "--meta", "bad key=1"}, "metadata"}}) {
    Result r = Run(args);
    EXPECT_NE(r.exit_code, 0) << mention;
    EXPECT_THAT(r.err, HasSubstr(mention));
  }
  pid_t pid =
      SpawnWorker({"--exec", R"(trace=printf '%s|%s' "$TRACEPARENT" "$POPQUEUE_JOB_METADATA")"});
  ASSERT_GT(pid, 0);
  json job = json::object();
  for (int i = 0; i < 300 && job.value("state", "") != "completed"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    job = RunJson({"job", id});
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(job.value("state", ""), "completed") << job.dump();
  EXPECT_EQ(job["result"], trace + R"(|{"tenant":"acme","traceparent":")" + trace + R"("})");
}

// Exit statuses 75/76/77 of an --exec command ask for a snooze (delay on
// stdout), a discard and a failure without retry.
TEST_F(CliTest, WorkerExecExitStatusesAskForOutcomes) {
  std::string snooze = Enqueue({"snooze", "--max-attempts", "1"});
  std::string discard = Enqueue({"discard", "--max-attempts", "3"});
  std::string noretry = Enqueue({"noretry", "--max-attempts", "3"});
  std::string badsnooze = Enqueue({"badsnooze", "--max-attempts", "1"});
  const std::string marker = dir_ + "/snoozed";
  std::vector<std::string> argv_s = {POPQUEUE_CLI_PATH,
                                     "worker",
                                     "--db-url",
                                     db_url_,
                                     "--exec",
                                     "snooze=if [ -e " + marker +
                                         " ]; then echo woke; else touch " + marker +
                                         "; echo 0.3; exit 75; fi",
                                     "--exec",
                                     "discard=echo account gone >&2; exit 76",
                                     "--exec",
                                     "noretry=echo bad payload >&2; exit 77",
                                     "--exec",
                                     "badsnooze=echo soon; exit 75"};
  std::vector<char*> argv = ::popqueue::testing::NullTerminated(argv_s);
  pid_t pid = 0;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  bool done = false;
  for (int i = 0; i < 300 && !done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done = RunJson({"job", snooze})["state"] == "completed" &&
           RunJson({"job", discard})["state"] == "cancelled" &&
           RunJson({"job", noretry})["state"] == "dead" &&
           RunJson({"job", badsnooze})["state"] == "dead";
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(done);
  json a = RunJson({"job", snooze});
  EXPECT_EQ(a["result"], "woke\n");
  EXPECT_EQ(a["attempt"], 1);
  EXPECT_TRUE(a["errors"].empty()) << a.dump();
  json b = RunJson({"job", discard});
  ASSERT_EQ(b["errors"].size(), 1u) << b.dump();
  EXPECT_EQ(b["errors"][0]["message"], "discarded: account gone");
  json c = RunJson({"job", noretry});
  EXPECT_EQ(c["attempt"], 1);
  ASSERT_EQ(c["errors"].size(), 1u) << c.dump();
  EXPECT_EQ(c["errors"][0]["message"], "exit status 77: bad payload");
  json d = RunJson({"job", badsnooze});
  ASSERT_EQ(d["errors"].size(), 1u) << d.dump();
  EXPECT_THAT(d["errors"][0]["message"].get<std::string>(), HasSubstr("is not a delay"));
}

// `popqueue worker --metrics-address`: /healthz, /readyz and /metrics of the
// worker process itself (its own job counters), nothing else.
TEST_F(CliTest, WorkerEndpointServesMetricsAndProbes) {
  for (int i = 0; i < 3; ++i) Enqueue({"shout", "--data", "hi"});
  const std::string log = dir_ + "/worker.log";
  std::vector<std::string> argv_s = {
      POPQUEUE_CLI_PATH, "worker",           "--db-url",          db_url_,
      "--exec",          "shout=tr a-z A-Z", "--metrics-address", "127.0.0.1:0"};
  std::vector<char*> argv = ::popqueue::testing::NullTerminated(argv_s);
  std::vector<std::string> env_s = ::popqueue::testing::EnvironmentWithoutPopqueue();
  std::vector<char*> envp = ::popqueue::testing::NullTerminated(env_s);
  pid_t pid = 0;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  // "popqueue: worker endpoint (/metrics, /healthz, /readyz) on 127.0.0.1:PORT"
  int port = 0;
  const std::string marker = "/readyz) on 127.0.0.1:";
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string text = ReadWholeFile(log);
    if (size_t at = text.find(marker); at != std::string::npos) {
      port = std::atoi(text.c_str() + at + marker.size());
    }
  }
  ASSERT_GT(port, 0) << ReadWholeFile(log);
  httplib::Client http("127.0.0.1", port);
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  auto api = http.Get("/api/jobs");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 404) << "a worker's endpoint serves no API";
  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    auto m = http.Get("/metrics");
    ASSERT_TRUE(m);
    metrics = m->body;
    if (metrics.find("popqueue_jobs_completed_total{name=\"shout\"} 3") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(metrics, HasSubstr("popqueue_jobs_completed_total{name=\"shout\"} 3"));
  EXPECT_THAT(metrics, HasSubstr("popqueue_concurrency_limit"));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  Result bad = Run({"worker", "--exec", "a=b", "--metrics-address", "nope"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("metricsAddress"));
}

// serve without --demo runs no workers: a flag that only sizes in-process
// workers is refused instead of doing nothing.
TEST_F(CliTest, ServeRefusesWorkerOnlyFlags) {
  for (const char* flag : {"--max-prefetch=10", "--resource-limits=on", "--shutdown-deadline=5s"}) {
    Result r = Run({"serve", flag, "--port", "0", "--no-grpc"});
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("serve runs none without --demo")) << flag;
  }
}

TEST_F(CliTest, DemoRunsEveryJobToAFinalState) {
  Result r = Run({"worker", "--demo", "--demo-exit-when-done", "--demo-timeout", "60s"}, true, "",
                 {}, std::chrono::seconds(90));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("Summary:"));

  std::map<std::string, json> by_name;
  int count = 0;
  for (const char* queue : {"demo", "demo-priority"}) {
    json page = RunJson({"jobs", "--queue", queue, "--limit", "100"});
    for (const json& job : page["jobs"]) {
      ++count;
      std::string name = job["name"];
      by_name[name] = job;
      if (name == "demo.always-fails") {
        EXPECT_EQ(job["state"], "dead") << job.dump();
        EXPECT_EQ(job["attempt"], job["maxAttempts"]) << job.dump();
        EXPECT_EQ(job["maxAttempts"], 3) << job.dump();  // retries 2 + 1
        EXPECT_EQ(job["errors"].size(), 3u) << job.dump();
      } else {
        EXPECT_EQ(job["state"], "completed") << job.dump();
      }
    }
  }
  EXPECT_EQ(count, 9);  // hello, delayed, 3 batch, urgent, flaky, fails, slow
  for (const char* name : {"demo.hello", "demo.delayed", "demo.batch", "demo.urgent", "demo.flaky",
                           "demo.always-fails", "demo.slow"}) {
    EXPECT_TRUE(by_name.count(name)) << name;
  }
  EXPECT_EQ(by_name["demo.flaky"]["attempt"], 2);

  // The urgent job, enqueued after the batch, started first on its queue.
  std::vector<std::string> priority_starts;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("] start ") == std::string::npos) continue;
    if (line.find("demo.urgent") != std::string::npos) {
      priority_starts.push_back("urgent");
    } else if (line.find("demo.batch") != std::string::npos) {
      priority_starts.push_back("batch");
    }
  }
  ASSERT_EQ(priority_starts.size(), 4u) << r.out;
  EXPECT_EQ(priority_starts[0], "urgent") << r.out;
}

}  // namespace
