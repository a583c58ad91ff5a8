#include "coord/worker_json.h"

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace popqueue::coord {

std::string WorkerToJson(const WorkerInfo& w) {
  nlohmann::json j = {{"id", w.id},
                      {"host", w.host},
                      {"address", w.address},
                      {"pid", w.pid},
                      {"queues", w.queues},
                      {"started_at_us", absl::ToUnixMicros(w.started_at)},
                      {"last_heartbeat_at_us", absl::ToUnixMicros(w.last_heartbeat_at)},
                      {"running", w.running}};
  // Replace, not throw, on invalid UTF-8 (host names come from the system).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<WorkerInfo> WorkerFromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  auto num = [&](const char* k) {
    return j.contains(k) && j[k].is_number_integer() ? j[k].get<int64_t>() : int64_t{0};
  };
  WorkerInfo w;
  w.id = str("id");
  w.host = str("host");
  w.address = str("address");  // absent in records written before it
  w.pid = num("pid");
  if (j.contains("queues") && j["queues"].is_array()) {
    for (const auto& q : j["queues"]) {
      if (q.is_string()) w.queues.push_back(q.get<std::string>());
    }
  }
  w.started_at = absl::FromUnixMicros(num("started_at_us"));
  w.last_heartbeat_at = absl::FromUnixMicros(num("last_heartbeat_at_us"));
  w.running = static_cast<int>(num("running"));
  if (w.id.empty()) return std::nullopt;
  return w;
}

}  // namespace popqueue::coord
