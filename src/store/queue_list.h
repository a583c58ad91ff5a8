// QueueList's answer, built the same way by every backend from what it
// stores: the per-queue counts (JobCountByState) and the paused queues.
#ifndef POPQUEUE_STORE_QUEUE_LIST_H_
#define POPQUEUE_STORE_QUEUE_LIST_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "popqueue/admin.h"
#include "popqueue/job.h"

namespace popqueue::store {

// Every state with count 0.
std::map<JobState, int64_t> ZeroCounts();

// One entry per queue of `counts` or `paused`, sorted by name: its counts
// (every state present, 0 when missing; all 0 for a paused queue without
// jobs) and whether it is paused. A queue name in `paused` twice counts once.
std::vector<QueueInfo> MergeQueueList(std::vector<QueueCounts> counts,
                                      const std::vector<std::string>& paused);

}  // namespace popqueue::store

#endif  // POPQUEUE_STORE_QUEUE_LIST_H_
