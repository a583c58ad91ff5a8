// The route table shared by http_server.cc (dispatch, auth, errors) and the
// route handlers (routes_jobs.cc, routes_workflows.cc, routes_admin.cc). Internal to the server.
#ifndef POPQUEUE_SERVER_HTTP_ROUTES_H_
#define POPQUEUE_SERVER_HTTP_ROUTES_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"
#include "server/access.h"
#include "server/http/api_error.h"
#include "server/metrics.h"

namespace popqueue::server {

// What a handler sees: the Queue, the metrics, the HTTP request and the
// values of the path's {params} in order.
struct RouteContext {
  Queue* queue;
  Metrics* metrics;
  const httplib::Request& request;
  std::vector<std::string> params;
};

// What a handler answers.
struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  // For the audit line of a mutating route: which job(s) or queue, as
  // "job=123" or "jobs=3 queue=mail". The path's {id} and {name} are added
  // by the server; never payloads or secrets.
  std::string audit;
};

Reply JsonReply(const nlohmann::json& value, int status = 200);
Reply ErrorReply(const ApiError& error);
Reply ErrorReply(const absl::Status& status);

using RouteHandler = Reply (*)(RouteContext&);

struct Route {
  std::string_view method;
  std::string_view path;  // segments in {braces} match one path segment
  // The token scope the route needs (docs/security.md); kWrite and kAdmin
  // routes are the mutations, each audited.
  Scope scope;
  // POST routes whose handler reads a JSON body: Content-Type must be
  // application/json (415) and the body must be present.
  bool json_body;
  RouteHandler handler;
};

// The handlers, grouped by resource.
std::vector<Route> JobRoutes();
std::vector<Route> WorkflowRoutes();  // workflows and batches
std::vector<Route> AdminRoutes();     // queues, workers, stats, metrics, health, UI

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_HTTP_ROUTES_H_
