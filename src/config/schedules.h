// Cron schedules declared in config.json, for processes whose code defines
// no Queue::Every() of its own: `popqueue worker` with --exec handlers, and
// `popqueue serve` (whose maintenance runs them for remote workers).
//
//   "schedules": {
//     "nightly-report": {"cron": "0 3 * * *", "timeZone": "Europe/Berlin",
//                        "name": "report", "data": {"kind": "daily"},
//                        "queue": "reports", "priority": 5, "maxAttempts": 3,
//                        "timeout": "10m", "missed": "runOnce",
//                        "catchUpWindow": "6h"}
//   }
//
// The object's key is the schedule's identity across processes
// (EveryOptions::schedule_id), so every process given the same config.json
// enqueues each fire once between them; they are defined in the order of
// their keys. "name" (the job name) defaults to the key; "data" is a string
// or any JSON value (sent as its JSON text).
// Env: POPQUEUE_SCHEDULES with the same JSON object.
#ifndef POPQUEUE_CONFIG_SCHEDULES_H_
#define POPQUEUE_CONFIG_SCHEDULES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"

namespace popqueue::config {

class Config;

struct ScheduleDecl {
  std::string name;  // job name
  std::string cron;  // the expression
  std::string data;
  EveryOptions options;  // options.schedule_id = the key
};

// Parses the "schedules" object. InvalidArgument names the field
// ("schedules.nightly-report.cron: ...") and refuses unknown ones; the cron
// expression and zone are checked here, the job options by Queue::Every.
absl::StatusOr<std::vector<ScheduleDecl>> ParseSchedules(const nlohmann::json& value);

// The schedules of `config` (none when unset); Config::Load checked them.
std::vector<ScheduleDecl> SchedulesOf(const Config& config);

// Queue::Every() for each; the error names the schedule.
absl::Status DefineSchedules(const std::vector<ScheduleDecl>& schedules, Queue& queue);

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_SCHEDULES_H_
