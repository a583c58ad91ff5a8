// Read and admin types shared by the Queue API, the server and the stores.
#ifndef POPQUEUE_ADMIN_H_
#define POPQUEUE_ADMIN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "popqueue/job.h"

namespace popqueue {

// Which jobs to list. Empty fields match everything. Results are ordered by id
// descending (newest first); `before_id` continues after the last id of the
// previous page (keyset pagination).
struct JobFilter {
  std::vector<JobState> states;
  std::string queue;
  std::string name;
  std::string identifier;
  std::optional<JobId> before_id;
  int limit = 50;  // 1..1000
};

struct JobPage {
  std::vector<Job> jobs;
  std::optional<JobId> next_before_id;  // set when more jobs may follow
};

// Count of jobs per state, per queue.
struct QueueCounts {
  std::string queue;
  std::map<JobState, int64_t> by_state;
};

struct QueueInfo {
  std::string name;
  bool paused = false;
  std::map<JobState, int64_t> counts;
};

struct WorkerInfo {
  std::string id;
  std::string host;  // gethostname()
  // The worker's own network address as the registry's server sees it (the
  // local address of a route to the store's or coordinator's host; the host
  // name when there is no such route, e.g. SQLite).
  std::string address;
  int64_t pid = 0;
  std::vector<std::string> queues;
  absl::Time started_at = absl::UnixEpoch();
  absl::Time last_heartbeat_at = absl::UnixEpoch();
  int running = 0;  // jobs in flight at the last heartbeat
};

// The outcome of an enqueue: the job's id and whether it was newly inserted
// (false: a non-final job with the same identifier already existed and is
// returned instead).
struct EnqueueResult {
  JobId id = 0;
  bool inserted = true;
  JobState state = JobState::kAvailable;
};

}  // namespace popqueue

#endif  // POPQUEUE_ADMIN_H_
