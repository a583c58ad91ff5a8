// The JSON form of a WorkerInfo kept by the Redis and memcached registries:
// {"id","host","pid","queues":[...],"started_at_us","last_heartbeat_at_us",
// "running"} (times in microseconds since the Unix epoch).
#ifndef POPQUEUE_COORD_WORKER_JSON_H_
#define POPQUEUE_COORD_WORKER_JSON_H_

#include <optional>
#include <string>

#include "popqueue/admin.h"

namespace popqueue::coord {

std::string WorkerToJson(const WorkerInfo& worker);
// nullopt when `text` is not such an object (or has no id).
std::optional<WorkerInfo> WorkerFromJson(const std::string& text);

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_WORKER_JSON_H_
