#include "store/redis/keys.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/redis/slot_map.h"

namespace popqueue::store::redis_store {

std::string CollectionTag(std::string_view collection) {
  return absl::StrCat("{", std::string(collection), "}");
}

std::string QueueTag(std::string_view collection, std::string_view queue) {
  std::string tag = absl::StrCat("{", std::string(collection), ":");
  tag.reserve(tag.size() + queue.size() + 1);
  for (char c : queue) {
    switch (c) {
      case '%': tag += "%25"; break;
      case '{': tag += "%7B"; break;
      case '}': tag += "%7D"; break;
      default: tag += c;
    }
  }
  tag += '}';
  return tag;
}

std::string ProbeKey(std::string_view tag) {
  return absl::StrCat(std::string(tag), ":migrating-probe");
}

std::vector<std::vector<size_t>> GroupBySlot(const std::vector<std::string>& tags, bool by_slot) {
  std::vector<std::vector<size_t>> groups;
  if (tags.empty()) return groups;
  if (!by_slot) {
    groups.emplace_back();
    for (size_t i = 0; i < tags.size(); ++i) groups[0].push_back(i);
    return groups;
  }
  std::map<int, size_t> group_of_slot;
  for (size_t i = 0; i < tags.size(); ++i) {
    const int slot = redis::KeySlot(tags[i]);
    auto [it, added] = group_of_slot.emplace(slot, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

}  // namespace popqueue::store::redis_store
