// The key layout of the Redis store (the opening essay of redis_store.cc,
// docs/redis-store.md): the collection's hash tag, each queue's hash tag,
// and how the queues of one call are grouped into script calls.
#ifndef POPQUEUE_STORE_REDIS_KEYS_H_
#define POPQUEUE_STORE_REDIS_KEYS_H_

#include <string>
#include <string_view>
#include <vector>

namespace popqueue::store::redis_store {

// "{<collection>}": the tag of the collection slot (directory, identifier
// reservations, queue set, leadership, workers).
std::string CollectionTag(std::string_view collection);

// "{<collection>:<queue>}": the tag of a queue's slot (its jobs and their
// indexes). '%', '{' and '}' of the queue name are written %25, %7B and
// %7D, so the tag ends at its own "}" (Redis hashes the text between the
// first "{" and the next "}") and different queues get different tags.
std::string QueueTag(std::string_view collection, std::string_view queue);

// "<tag>:migrating-probe": KEYS[1] of every job script, which routes the
// call to the tag's slot (lua/lib.lua says why it is probed).
std::string ProbeKey(std::string_view tag);

// Groups the indexes of `tags` so that each group can be one script call:
// all of them in one group when `by_slot` is false (a single node: no
// slots to respect), else one group per cluster slot. Groups and the
// indexes in them keep the order of first appearance.
std::vector<std::vector<size_t>> GroupBySlot(const std::vector<std::string>& tags, bool by_slot);

}  // namespace popqueue::store::redis_store

#endif  // POPQUEUE_STORE_REDIS_KEYS_H_
