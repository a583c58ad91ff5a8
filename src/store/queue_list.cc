#include "store/queue_list.h"

#include <utility>

namespace popqueue::store {

std::map<JobState, int64_t> ZeroCounts() {
  std::map<JobState, int64_t> counts;
  for (JobState s : kAllJobStates) counts[s] = 0;
  return counts;
}

std::vector<QueueInfo> MergeQueueList(std::vector<QueueCounts> counts,
                                      const std::vector<std::string>& paused) {
  std::map<std::string, QueueInfo> queues;
  auto entry = [&](const std::string& name) -> QueueInfo& {
    auto [it, fresh] = queues.try_emplace(name);
    if (fresh) it->second = QueueInfo{.name = name, .counts = ZeroCounts()};
    return it->second;
  };
  for (QueueCounts& c : counts) {
    QueueInfo& info = entry(c.queue);
    for (const auto& [state, n] : c.by_state) info.counts[state] += n;
  }
  for (const std::string& name : paused) entry(name).paused = true;
  std::vector<QueueInfo> out;
  out.reserve(queues.size());
  for (auto& [name, info] : queues) out.push_back(std::move(info));
  return out;
}

}  // namespace popqueue::store
