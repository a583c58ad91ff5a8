#include "store/redis/directory.h"

#include <utility>

#include "store/redis/job_hash.h"

namespace popqueue::store::redis_store {

Directory::Directory(redis::Client* client, std::string dir_key)
    : client_(client), dir_key_(std::move(dir_key)) {}

void Directory::Remember(JobId id, const std::string& tag) {
  MutexLock lock(&mu_);
  if (cached_.size() >= kMaxCached) {
    cached_.clear();
    tags_.clear();
    tag_index_.clear();
  }
  auto [it, added] = tag_index_.emplace(tag, static_cast<uint32_t>(tags_.size()));
  if (added) tags_.push_back(tag);
  cached_[id] = it->second;
}

void Directory::Forget(const std::vector<JobId>& ids) {
  MutexLock lock(&mu_);
  for (JobId id : ids) cached_.erase(id);
}

absl::StatusOr<std::vector<std::optional<std::string>>> Directory::Lookup(
    const std::vector<JobId>& ids) {
  std::vector<std::optional<std::string>> out(ids.size());
  std::vector<size_t> missing;
  {
    MutexLock lock(&mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = cached_.find(ids[i]);
      if (it == cached_.end()) {
        missing.push_back(i);
      } else {
        out[i] = tags_[it->second];
      }
    }
  }
  if (missing.empty()) return out;
  std::vector<std::string> args = {"HMGET", dir_key_};
  for (size_t i : missing) args.push_back(IdKey(ids[i]));
  absl::StatusOr<redis::Reply> r = client_->Command(args);
  if (!r.ok()) return r.status();
  if (r->elements.size() != missing.size()) {
    return absl::InternalError("HMGET of the job directory returned a short reply");
  }
  for (size_t j = 0; j < missing.size(); ++j) {
    if (!r->elements[j].is_nil()) out[missing[j]] = r->elements[j].str;
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> Directory::LookupUncached(JobId id) {
  absl::StatusOr<redis::Reply> r = client_->Command({"HGET", dir_key_, IdKey(id)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::nullopt;
  return r->str;
}

}  // namespace popqueue::store::redis_store
