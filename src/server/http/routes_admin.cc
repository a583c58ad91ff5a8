// Queue, worker, stats, metrics and health routes, the OpenAPI document and
// the dashboard's static files.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/job_json.h"
#include "embedded/dashboard_assets.h"
#include "embedded/openapi.h"
#include "popqueue/metrics.h"
#include "server/http/request_json.h"
#include "server/http/routes.h"

namespace popqueue::server {
namespace {

nlohmann::json StateCountsJson(const std::map<JobState, int64_t>& counts) {
  nlohmann::json out = nlohmann::json::object();
  for (JobState s : kAllJobStates) {
    auto it = counts.find(s);
    out[std::string(JobStateName(s))] = it == counts.end() ? 0 : it->second;
  }
  return out;
}

std::map<JobState, int64_t> Totals(const std::vector<QueueCounts>& counts) {
  std::map<JobState, int64_t> totals;
  for (const QueueCounts& q : counts) {
    for (const auto& [state, n] : q.by_state) totals[state] += n;
  }
  return totals;
}

absl::Time Now(const Queue& queue) {
  Clock* clock = queue.config().clock;
  return clock ? clock->Now() : absl::Now();
}

// GET /api/queues
Reply ListQueues(RouteContext& c) {
  auto queues = c.queue->ListQueues();
  if (!queues.ok()) return ErrorReply(queues.status());
  nlohmann::json out = nlohmann::json::array();
  for (const QueueInfo& q : *queues) {
    out.push_back({{"name", q.name}, {"paused", q.paused}, {"counts", StateCountsJson(q.counts)}});
  }
  return JsonReply({{"queues", std::move(out)}});
}

Reply PauseOrResume(RouteContext& c, bool pause) {
  const std::string& name = c.params[0];
  absl::Status s = pause ? c.queue->PauseQueue(name) : c.queue->ResumeQueue(name);
  if (!s.ok()) return ErrorReply(s);
  return JsonReply({{"name", name}, {"paused", pause}});
}
Reply PauseQueue(RouteContext& c) { return PauseOrResume(c, true); }
Reply ResumeQueue(RouteContext& c) { return PauseOrResume(c, false); }

// GET /api/workers
Reply ListWorkers(RouteContext& c) {
  auto workers = c.queue->ListWorkers();
  if (!workers.ok()) return ErrorReply(workers.status());
  nlohmann::json out = nlohmann::json::array();
  for (const WorkerInfo& w : *workers) out.push_back(WorkerToJson(w));
  return JsonReply({{"workers", std::move(out)}});
}

// GET /api/schedules: the cron schedules this server defines (config.json's
// "schedules", or Every() in an embedding program), with their next fire
// time in UTC and in the schedule's zone.
Reply ListSchedules(RouteContext& c) {
  nlohmann::json out = nlohmann::json::array();
  for (const ScheduleInfo& s : c.queue->Schedules()) out.push_back(ScheduleToJson(s));
  return JsonReply({{"schedules", std::move(out)}});
}

// GET /api/stats
Reply Stats(RouteContext& c) {
  auto counts = c.queue->CountByState();
  if (!counts.ok()) return ErrorReply(counts.status());
  std::map<JobState, int64_t> totals = Totals(*counts);
  c.metrics->MaybeRecordStates(totals);
  nlohmann::json throughput = nlohmann::json::array();
  for (const ThroughputPoint& p : c.metrics->Throughput()) {
    throughput.push_back({{"minute", FormatTimestamp(p.minute)},
                          {"enqueued", p.enqueued},
                          {"completed", p.completed},
                          {"failed", p.failed},
                          {"dead", p.dead}});
  }
  nlohmann::json states = nlohmann::json::array();
  for (const StateSample& s : c.metrics->States()) {
    states.push_back({{"at", FormatTimestamp(s.at)}, {"counts", StateCountsJson(s.counts)}});
  }
  ConcurrencyStats cs = c.queue->Concurrency();
  nlohmann::json concurrency = {
      {"limit", cs.limit}, {"configured", cs.configured},         {"running", cs.running},
      {"held", cs.held},   {"resource_aware", cs.resource_aware}, {"load", nullptr}};
  if (cs.load) concurrency["load"] = {{"cpu", cs.load->cpu}, {"memory", cs.load->memory}};
  return JsonReply({{"now", FormatTimestamp(Now(*c.queue))},
                    {"concurrency", std::move(concurrency)},
                    {"totals", StateCountsJson(totals)},
                    {"queues", QueueCountsToJson(*counts)},
                    {"throughput", std::move(throughput)},
                    {"states", std::move(states)}});
}

// GET /metrics (server/metrics.h, RenderMetricsText).
Reply MetricsText(RouteContext& c) {
  return Reply{.body = RenderMetricsText(*c.queue, *c.metrics),
               .content_type = std::string(MetricsExporter::kContentType)};
}

// GET /healthz: the process answers.
Reply Healthz(RouteContext&) { return JsonReply({{"status", "ok"}}); }

// GET /readyz: the store answers.
Reply Readyz(RouteContext& c) {
  auto counts = c.queue->CountByState();
  if (!counts.ok()) {
    return ErrorReply(absl::UnavailableError(
        absl::StrCat("store not reachable: ", std::string(counts.status().message()))));
  }
  return JsonReply({{"status", "ready"}});
}

Reply OpenApi(RouteContext&) {
  return Reply{.body = std::string(embedded::openapi("openapi.json")),
               .content_type = "application/json; charset=utf-8"};
}

// The dashboard may run only its own script and style: data shown in it can
// never become code even if a view forgot to escape.
constexpr char kDashboardPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

Reply Asset(const char* file, const char* content_type) {
  Reply r{.body = std::string(embedded::dashboard_assets(file)), .content_type = content_type};
  r.headers.emplace_back("Content-Security-Policy", kDashboardPolicy);
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}
Reply Index(RouteContext&) { return Asset("index.html", "text/html; charset=utf-8"); }
Reply AppJs(RouteContext&) { return Asset("app.js", "text/javascript; charset=utf-8"); }
Reply StylesCss(RouteContext&) { return Asset("styles.css", "text/css; charset=utf-8"); }

}  // namespace

std::vector<Route> AdminRoutes() {
  return {
      {"GET", "/api/queues", Scope::kRead, false, ListQueues},
      {"POST", "/api/queues/{name}/pause", Scope::kAdmin, false, PauseQueue},
      {"POST", "/api/queues/{name}/resume", Scope::kAdmin, false, ResumeQueue},
      {"GET", "/api/workers", Scope::kRead, false, ListWorkers},
      {"GET", "/api/schedules", Scope::kRead, false, ListSchedules},
      {"GET", "/api/stats", Scope::kRead, false, Stats},
      {"GET", "/api/openapi.json", Scope::kOpen, false, OpenApi},
      {"GET", "/metrics", Scope::kRead, false, MetricsText},
      {"GET", "/healthz", Scope::kOpen, false, Healthz},
      {"GET", "/readyz", Scope::kOpen, false, Readyz},
      {"GET", "/", Scope::kOpen, false, Index},
      {"GET", "/app.js", Scope::kOpen, false, AppJs},
      {"GET", "/styles.css", Scope::kOpen, false, StylesCss},
  };
}

}  // namespace popqueue::server
