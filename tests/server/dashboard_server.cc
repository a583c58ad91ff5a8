// A seeded pop-queue server for the browser test (dashboard.mjs): a Queue on
// a temporary SQLite file holding completed, dead, available and scheduled
// jobs (one dead job's payload is an HTML injection probe), one running job
// past its timeout that its (remote) worker still heartbeats, so it shows the
// stop request, two cron schedules (one named like the probe) and a workflow
// of four jobs in queue "pipeline" (wf-fetch completed, wf-parse available,
// the probe-named job and wf-cleanup waiting); served by HttpServer on a free
// port. Prints "PORT <n>" once listening and serves until stdin closes, then
// removes the temporary files.
//
//   dashboard_server [--token T] [--tokens id:scope:secret,...] [--cors]
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

#include "absl/time/clock.h"
#include "popqueue/queue.h"
#include "popqueue/remote_worker.h"
#include "server/access.h"
#include "server/http/http_server.h"
#include "server/metrics.h"

namespace popqueue {
namespace {

constexpr char kProbe[] = "<img src=x onerror=alert(1)>";

int64_t Count(Queue& queue, JobState state) {
  int64_t n = 0;
  auto counts = queue.CountByState();
  if (!counts.ok()) return -1;
  for (const QueueCounts& q : *counts) {
    auto it = q.by_state.find(state);
    if (it != q.by_state.end()) n += it->second;
  }
  return n;
}

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "dashboard_server: %s: %s\n", what.c_str(),
               std::string(status.message()).c_str());
  return 1;
}

int Run(const std::string& dir, const std::string& token,
        const std::vector<server::AccessToken>& tokens, bool cors) {
  QueueConfig config{.db_url = "sqlite://" + dir + "/dashboard.db", .retries = 0};
  config.worker.poll_interval = absl::Milliseconds(10);
  config.worker.handle_signals = false;
  config.worker.queues = {"default", "billing"};
  auto queue = Queue::Open(config);
  if (!queue.ok()) return Fail("open", queue.status());
  server::Metrics metrics;
  Queue& q = **queue;
  if (absl::Status s = q.OnEvent(metrics.Listener()); !s.ok()) return Fail("listen", s);
  if (absl::Status s = q.Define("send-email", [](const Job&) { return true; }); !s.ok()) {
    return Fail("define", s);
  }
  if (absl::Status s = q.Define("charge-card", [](const Job&) { return false; }); !s.ok()) {
    return Fail("define", s);
  }

  // Schedules whose jobs go to queue "reports", which no worker serves, at
  // times that (all but) never pass while the workers run: listed, not fired.
  if (absl::Status s = q.Every("report", "0 0 1 1 *", "{}",
                               {.job = {.queue = "reports"},
                                .time_zone = "Europe/Berlin",
                                .schedule_id = "new-year-report"});
      !s.ok()) {
    return Fail("every", s);
  }
  if (absl::Status s = q.Every(kProbe, "30 4 * * 1", "{}",
                               {.job = {.queue = "reports"},
                                .time_zone = "Asia/Tokyo",
                                .missed = MissedFires::kRunOnce,
                                .catch_up_window = absl::Minutes(1),
                                .schedule_id = "probe-weekly"});
      !s.ok()) {
    return Fail("every", s);
  }

  auto enqueue = [&](const std::string& name, const std::string& data,
                     const EnqueueOptions& options = {}) {
    auto r = q.Enqueue(name, data, options);
    if (r.ok()) metrics.RecordEnqueued(name);
    return r.status();
  };
  absl::Status s;
  for (int i = 0; i < 3 && s.ok(); ++i) {
    s = enqueue("send-email", "{\"to\":\"user" + std::to_string(i) + "@example.com\"}");
  }
  if (s.ok()) s = enqueue("charge-card", "{\"amount\":1200}");
  if (s.ok()) s = enqueue("charge-card", "{\"amount\":99}", {.queue = "billing"});
  if (s.ok()) s = enqueue("charge-card", kProbe, {.identifier = "xss-probe"});
  if (!s.ok()) return Fail("enqueue", s);

  if (s = q.StartInBackground(); !s.ok()) return Fail("start", s);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((Count(q, JobState::kDead) < 3 || Count(q, JobState::kCompleted) < 3) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  q.Stop();
  // A remote worker holds "transcode" past its 1 s timeout and heartbeats it:
  // running, with the stop request (timeout) on the job.
  {
    // With metadata: a trace context and the probe as a tenant.
    EnqueueOptions options{.timeout = absl::Seconds(1)};
    options.metadata = {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                        {"tenant", kProbe}};
    auto t = q.Enqueue("transcode", "{\"codec\":\"av1\"}", options);
    if (!t.ok()) return Fail("enqueue", t.status());
    RemoteWorkerApi remote(q);
    auto got = remote.FetchJobs({.worker_id = "remote-transcoder",
                                 .limit = 1,
                                 .lease = absl::Hours(1),
                                 .address = "10.9.8.6"});
    if (!got.ok() || got->size() != 1) {
      return Fail("fetch transcode", got.ok() ? absl::InternalError("no job") : got.status());
    }
    absl::SleepFor(absl::Milliseconds(1100));
    auto beat = remote.Heartbeat({{.id = (*got)[0].id, .lease_token = (*got)[0].lease_token}},
                                 absl::Hours(1));
    if (!beat.ok() || beat->stop.size() != 1) {
      return Fail("heartbeat transcode",
                  beat.ok() ? absl::InternalError("not told to stop") : beat.status());
    }
  }
  // A workflow in queue "pipeline" (no local worker serves it); the remote
  // worker completes its root, which releases wf-parse.
  {
    auto wf = q.EnqueueWorkflow({
        {.key = "fetch", .name = "wf-fetch", .options = {.queue = "pipeline"}},
        {.key = "parse",
         .name = "wf-parse",
         .options = {.queue = "pipeline"},
         .depends_on = {{.key = "fetch"}}},
        {.key = "probe",
         .name = kProbe,
         .options = {.queue = "pipeline"},
         .depends_on = {{.key = "fetch"}, {.key = "parse", .ignore_failure = true}}},
        {.key = "cleanup",
         .name = "wf-cleanup",
         .options = {.queue = "pipeline"},
         .depends_on = {{.key = "parse"}}},
    });
    if (!wf.ok()) return Fail("enqueue workflow", wf.status());
    RemoteWorkerApi remote(q);
    auto got = remote.FetchJobs({.queues = {"pipeline"},
                                 .worker_id = "remote-transcoder",
                                 .limit = 1,
                                 .address = "10.9.8.6"});
    if (!got.ok() || got->size() != 1 || (*got)[0].name != "wf-fetch") {
      return Fail("fetch wf-fetch", got.ok() ? absl::InternalError("no wf-fetch") : got.status());
    }
    if (s = remote.CompleteJob((*got)[0].id, (*got)[0].lease_token); !s.ok()) {
      return Fail("complete wf-fetch", s);
    }
  }
  // Jobs no worker will touch while the browser looks.
  if (s = enqueue("resize-image", "{\"w\":640}"); !s.ok()) return Fail("enqueue", s);
  if (s = enqueue("report", "{}", {.delay = absl::Hours(1)}); !s.ok()) return Fail("enqueue", s);
  if (s = q.RegisterWorker(); !s.ok()) return Fail("register", s);
  // A remote (gRPC) worker, as `serve` registers one: its connection's
  // address, no pid.
  popqueue::RemoteWorkerApi remote(q);
  if (s = remote.RegisterWorker(
          {.worker_id = "py-remote-1", .queues = {"billing"}, .address = "10.9.8.7"});
      !s.ok()) {
    return Fail("register remote", s);
  }

  auto http = server::HttpServer::Start(&q, {.host = "127.0.0.1",
                                             .port = 0,
                                             .token = token,
                                             .tokens = tokens,
                                             .cors = cors,
                                             .metrics = &metrics});
  if (!http.ok()) return Fail("serve", http.status());
  std::printf("PORT %d\n", (*http)->port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*http)->Stop();
  return 0;
}

}  // namespace
}  // namespace popqueue

int main(int argc, char** argv) {
  std::string token;
  std::vector<popqueue::server::AccessToken> tokens;
  bool cors = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--token" && i + 1 < argc) token = argv[i + 1];
    if (std::string(argv[i]) == "--tokens" && i + 1 < argc) {
      for (absl::string_view entry : absl::StrSplit(argv[i + 1], ',')) {
        auto t = popqueue::server::ParseTokenEntry(std::string(entry));
        if (!t.ok()) {
          std::fprintf(stderr, "dashboard_server: --tokens: %s\n",
                       std::string(t.status().message()).c_str());
          return 2;
        }
        tokens.push_back(*t);
      }
    }
    if (std::string(argv[i]) == "--cors") cors = true;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-dash-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  int code = popqueue::Run(tmpl, token, tokens, cors);
  std::filesystem::remove_all(tmpl);
  return code;
}
