#include "coord/memcached/memcached_coordinator.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "coord/gcra.h"
#include "coord/validate.h"
#include "coord/worker_json.h"
#include "nlohmann/json.hpp"

namespace popqueue::coord {
namespace {

// CAS conflicts mean another process changed the key in between; a few
// dozen retries only happen under heavy contention on one key.
constexpr int kMaxCasAttempts = 64;

std::string LockValue(const std::string& owner, int64_t token) {
  return absl::StrCat(owner, "\n", token);
}

// Splits "<owner>\n<token>"; nullopt for anything else.
std::optional<std::pair<std::string, int64_t>> ParseLockValue(const std::string& v) {
  size_t nl = v.rfind('\n');
  if (nl == std::string::npos) return std::nullopt;
  int64_t token = 0;
  if (!absl::SimpleAtoi(v.substr(nl + 1), &token)) return std::nullopt;
  return std::make_pair(v.substr(0, nl), token);
}

absl::Status Contended(std::string_view what, std::string_view name) {
  return absl::AbortedError(
      absl::StrFormat("memcached: %s \"%s\" changed under %d consecutive compare-and-swaps; retry",
                      what, name, kMaxCasAttempts));
}

std::vector<std::string> ParseIndex(const std::string& text) {
  std::vector<std::string> ids;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return ids;
  for (const auto& id : j) {
    if (id.is_string()) ids.push_back(id.get<std::string>());
  }
  return ids;
}

std::string IndexToJson(const std::vector<std::string>& ids) { return nlohmann::json(ids).dump(); }

}  // namespace

absl::StatusOr<std::shared_ptr<MemcachedCoordinator>> MemcachedCoordinator::Open(
    const std::string& url, const std::string& ns) {
  auto client = mc::Client::Connect(url);
  if (!client.ok()) return client.status();
  return std::shared_ptr<MemcachedCoordinator>(new MemcachedCoordinator(
      std::move(*client), absl::StrCat("popqueue:", ns.empty() ? "default" : ns, ":")));
}

std::string MemcachedCoordinator::Key(const std::string& kind, const std::string& name) const {
  return absl::StrCat(prefix_, kind, ":", name);
}

absl::StatusOr<int64_t> MemcachedCoordinator::NextToken(const std::string& lock_name) {
  const std::string key = Key("lockseq", lock_name);
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    // Tokens are at least the current time in microseconds, so a counter
    // lost to eviction or a restart resumes above every earlier token.
    int64_t now_us = absl::ToUnixMicros(absl::Now());
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    if (!item->has_value()) {
      auto added = client_->Add(key, absl::StrCat(now_us), absl::InfiniteDuration());
      if (!added.ok()) return added.status();
      if (*added) return now_us;
      continue;
    }
    int64_t last = 0;
    if (!absl::SimpleAtoi((*item)->value, &last)) last = 0;
    int64_t next = std::max(last + 1, now_us);
    auto swapped = client_->Cas(key, absl::StrCat(next), absl::InfiniteDuration(), (*item)->cas);
    if (!swapped.ok()) return swapped.status();
    if (*swapped) return next;
  }
  return Contended("lock token counter", lock_name);
}

absl::StatusOr<std::optional<Lock>> MemcachedCoordinator::LockAcquire(
    const LockAcquireParams& params) {
  if (absl::Status s = ValidateLockAcquire(params); !s.ok()) return s;
  const std::string key = Key("lock", params.name);
  const std::string pending = LockValue(params.owner, 0);
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    if (item->has_value()) {
      auto held = ParseLockValue((*item)->value);
      if (!held || held->first != params.owner) return std::nullopt;
      if (held->second == 0) return std::nullopt;  // our own acquire in flight elsewhere
      // The holder asks again: same token, new expiry.
      auto swapped = client_->Cas(key, (*item)->value, params.ttl, (*item)->cas);
      if (!swapped.ok()) return swapped.status();
      if (*swapped) return Lock{.name = params.name, .owner = params.owner, .token = held->second};
      continue;
    }
    auto added = client_->Add(key, pending, params.ttl);
    if (!added.ok()) return added.status();
    if (!*added) continue;  // someone took it in between: look again
    // Held (pending). The token is drawn only now, while we hold the lock,
    // so it is larger than every token drawn by earlier holders.
    auto token = NextToken(params.name);
    auto mine = client_->Get(key);
    if (!token.ok() || !mine.ok()) {
      if (mine.ok() && mine->has_value() && (*mine)->value == pending) {
        (void)client_->CasDelete(key, (*mine)->cas);
      }
      return !token.ok() ? token.status() : mine.status();
    }
    if (!mine->has_value() || (*mine)->value != pending) return std::nullopt;  // expired
    auto swapped = client_->Cas(key, LockValue(params.owner, *token), params.ttl, (*mine)->cas);
    if (!swapped.ok()) return swapped.status();
    if (!*swapped) return std::nullopt;
    return Lock{.name = params.name, .owner = params.owner, .token = *token};
  }
  return Contended("lock", params.name);
}

absl::StatusOr<bool> MemcachedCoordinator::LockExtend(const LockExtendParams& params) {
  if (absl::Status s = ValidateLockExtend(params); !s.ok()) return s;
  const std::string key = Key("lock", params.lock.name);
  const std::string expected = LockValue(params.lock.owner, params.lock.token);
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    if (!item->has_value() || (*item)->value != expected) return false;
    auto swapped = client_->Cas(key, expected, params.ttl, (*item)->cas);
    if (!swapped.ok()) return swapped.status();
    if (*swapped) return true;
  }
  return Contended("lock", params.lock.name);
}

absl::Status MemcachedCoordinator::LockRelease(const Lock& lock) {
  if (absl::Status s = ValidateLock(lock); !s.ok()) return s;
  const std::string key = Key("lock", lock.name);
  const std::string expected = LockValue(lock.owner, lock.token);
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    if (!item->has_value() || (*item)->value != expected) return absl::OkStatus();
    auto deleted = client_->CasDelete(key, (*item)->cas);
    if (!deleted.ok()) return deleted.status();
    if (*deleted) return absl::OkStatus();
  }
  return Contended("lock", lock.name);
}

absl::StatusOr<RateLimitDecision> MemcachedCoordinator::RateLimitTake(
    const RateLimitTakeParams& params) {
  if (absl::Status s = ValidateRateLimit(params); !s.ok()) return s;
  const std::string key = Key("rate", params.key);
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    absl::Time now = absl::Now();
    std::optional<absl::Time> tat;
    int64_t tat_us = 0;
    if (item->has_value() && absl::SimpleAtoi((*item)->value, &tat_us)) {
      tat = absl::FromUnixMicros(tat_us);
    }
    GcraStep step = GcraTake(tat, now, params);
    if (!step.decision.allowed) return step.decision;
    std::string value = absl::StrCat(absl::ToUnixMicros(step.new_tat));
    absl::Duration ttl = GcraStateTtl(step.new_tat, now);
    auto stored = item->has_value() ? client_->Cas(key, value, ttl, (*item)->cas)
                                    : client_->Add(key, value, ttl);
    if (!stored.ok()) return stored.status();
    if (*stored) return step.decision;
  }
  // Contended: every attempt lost to another taker, so the limit is being
  // used; refusing is the safe answer.
  return RateLimitDecision{.allowed = false, .retry_after = params.period / params.limit};
}

absl::Status MemcachedCoordinator::IndexAdd(const std::string& worker_id) {
  const std::string key = Key("workers", "index");
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    if (!item->has_value()) {
      auto added = client_->Add(key, IndexToJson({worker_id}), absl::InfiniteDuration());
      if (!added.ok()) return added.status();
      if (*added) return absl::OkStatus();
      continue;
    }
    std::vector<std::string> ids = ParseIndex((*item)->value);
    if (std::find(ids.begin(), ids.end(), worker_id) != ids.end()) return absl::OkStatus();
    ids.push_back(worker_id);
    auto swapped = client_->Cas(key, IndexToJson(ids), absl::InfiniteDuration(), (*item)->cas);
    if (!swapped.ok()) return swapped.status();
    if (*swapped) return absl::OkStatus();
  }
  return Contended("worker index", "index");
}

absl::Status MemcachedCoordinator::IndexRemove(const std::vector<std::string>& worker_ids) {
  const std::string key = Key("workers", "index");
  std::set<std::string> gone(worker_ids.begin(), worker_ids.end());
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    if (!item->has_value()) return absl::OkStatus();
    std::vector<std::string> ids = ParseIndex((*item)->value);
    std::vector<std::string> kept;
    for (std::string& id : ids) {
      if (!gone.count(id)) kept.push_back(std::move(id));
    }
    if (kept.size() == ids.size()) return absl::OkStatus();
    auto swapped = client_->Cas(key, IndexToJson(kept), absl::InfiniteDuration(), (*item)->cas);
    if (!swapped.ok()) return swapped.status();
    if (*swapped) return absl::OkStatus();
  }
  return Contended("worker index", "index");
}

absl::Status MemcachedCoordinator::WorkerRegister(const WorkerRegisterParams& params) {
  if (absl::Status s = ValidateWorkerRegister(params); !s.ok()) return s;
  WorkerInfo w = params.worker;
  w.last_heartbeat_at = absl::Now();
  // Index first: a worker key without its index entry would be invisible.
  if (absl::Status s = IndexAdd(w.id); !s.ok()) return s;
  return client_->Set(Key("worker", w.id), WorkerToJson(w), params.ttl);
}

absl::Status MemcachedCoordinator::WorkerHeartbeat(const WorkerHeartbeatParams& params) {
  if (absl::Status s = ValidateWorkerHeartbeat(params); !s.ok()) return s;
  const std::string key = Key("worker", params.worker_id);
  for (int i = 0; i < kMaxCasAttempts; ++i) {
    auto item = client_->Get(key);
    if (!item.ok()) return item.status();
    std::optional<WorkerInfo> w;
    if (item->has_value()) w = WorkerFromJson((*item)->value);
    if (!w) {
      return absl::NotFoundError(absl::StrFormat(
          "worker %s is not registered (deregistered, expired or evicted): register it "
          "again",
          params.worker_id));
    }
    w->running = params.running;
    w->last_heartbeat_at = absl::Now();
    auto swapped = client_->Cas(key, WorkerToJson(*w), params.ttl, (*item)->cas);
    if (!swapped.ok()) return swapped.status();
    // The index may have been evicted since registration: put the id back.
    if (*swapped) return IndexAdd(params.worker_id);
  }
  return Contended("worker", params.worker_id);
}

absl::Status MemcachedCoordinator::WorkerDeregister(const std::string& worker_id) {
  if (absl::Status s = ValidateWorkerId(worker_id); !s.ok()) return s;
  auto deleted = client_->Delete(Key("worker", worker_id));
  if (!deleted.ok()) return deleted.status();
  return IndexRemove({worker_id});
}

absl::StatusOr<std::vector<WorkerInfo>> MemcachedCoordinator::WorkerList() {
  auto index = client_->Get(Key("workers", "index"));
  if (!index.ok()) return index.status();
  if (!index->has_value()) return std::vector<WorkerInfo>{};
  std::vector<std::string> ids = ParseIndex((*index)->value);
  std::vector<std::string> keys;
  for (const std::string& id : ids) keys.push_back(Key("worker", id));
  auto items = client_->GetMany(keys);
  if (!items.ok()) return items.status();
  std::vector<WorkerInfo> out;
  std::vector<std::string> gone;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = items->find(keys[i]);
    std::optional<WorkerInfo> w;
    if (it != items->end()) w = WorkerFromJson(it->second.value);
    if (w) {
      out.push_back(std::move(*w));
    } else {
      gone.push_back(ids[i]);
    }
  }
  // Expired workers leave the index here (best effort: a failure only
  // delays it to the next listing).
  if (!gone.empty()) (void)IndexRemove(gone);
  std::sort(out.begin(), out.end(),
            [](const WorkerInfo& a, const WorkerInfo& b) { return a.id < b.id; });
  return out;
}

}  // namespace popqueue::coord
