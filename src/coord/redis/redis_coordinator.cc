#include "coord/redis/redis_coordinator.h"

#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/url.h"
#include "coord/gcra.h"
#include "coord/validate.h"
#include "coord/worker_json.h"
#include "embedded/coord_redis_lua.h"

namespace popqueue::coord {
namespace {

std::string Script(std::string_view file) { return std::string(embedded::coord_redis_lua(file)); }

// Milliseconds for PEXPIRE: at least 1.
std::string Ms(absl::Duration d) {
  return absl::StrCat(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)))));
}

// "{" and "}" would end the hash tag early.
std::string TagSafe(std::string ns) {
  if (ns.empty()) ns = "default";
  for (char& c : ns) {
    if (c == '{' || c == '}') c = '_';
  }
  return ns;
}

absl::Status BadReply(std::string_view script, const redis::Reply& r) {
  return absl::InternalError(absl::StrFormat("Redis coordinator: unexpected reply to %s (type %d)",
                                             script, static_cast<int>(r.type)));
}

}  // namespace

absl::StatusOr<std::shared_ptr<RedisCoordinator>> RedisCoordinator::Open(const std::string& url,
                                                                         const std::string& ns) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  auto client = redis::Client::Connect(*parsed);
  if (!client.ok()) return client.status();
  return std::make_shared<RedisCoordinator>(std::move(*client), ns);
}

RedisCoordinator::RedisCoordinator(std::shared_ptr<redis::Client> client, const std::string& ns)
    : client_(std::move(client)),
      prefix_(absl::StrCat("popqueue:{", TagSafe(ns), "}:")),
      lock_acquire_(Script("lock_acquire.lua")),
      lock_extend_(Script("lock_extend.lua")),
      lock_release_(Script("lock_release.lua")),
      rate_limit_take_(Script("rate_limit_take.lua")),
      worker_register_(Script("worker_register.lua")),
      worker_heartbeat_(Script("worker_heartbeat.lua")),
      worker_deregister_(Script("worker_deregister.lua")),
      // Its only writes prune expired entries: wait=N need not WAIT after it.
      worker_list_(Script("worker_list.lua"), redis::Script::Access::kReadOnly),
      subscriber_(client_, prefix_ + "wake") {}

std::string RedisCoordinator::Key(const std::string& kind, const std::string& name) const {
  return absl::StrCat(prefix_, kind, ":", name);
}

absl::StatusOr<std::optional<Lock>> RedisCoordinator::LockAcquire(const LockAcquireParams& params) {
  if (absl::Status s = ValidateLockAcquire(params); !s.ok()) return s;
  auto r = client_->Eval(lock_acquire_, {Key("lock", params.name), Key("lockseq", params.name)},
                         {params.owner, Ms(params.ttl)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::nullopt;
  auto token = r->AsInt();
  if (!token.ok()) return BadReply("lock_acquire.lua", *r);
  return Lock{.name = params.name, .owner = params.owner, .token = *token};
}

absl::StatusOr<bool> RedisCoordinator::LockExtend(const LockExtendParams& params) {
  if (absl::Status s = ValidateLockExtend(params); !s.ok()) return s;
  auto r = client_->Eval(lock_extend_, {Key("lock", params.lock.name)},
                         {params.lock.owner, absl::StrCat(params.lock.token), Ms(params.ttl)});
  if (!r.ok()) return r.status();
  auto n = r->AsInt();
  if (!n.ok()) return BadReply("lock_extend.lua", *r);
  return *n == 1;
}

absl::Status RedisCoordinator::LockRelease(const Lock& lock) {
  if (absl::Status s = ValidateLock(lock); !s.ok()) return s;
  auto r = client_->Eval(lock_release_, {Key("lock", lock.name)},
                         {lock.owner, absl::StrCat(lock.token)});
  return r.status();
}

absl::StatusOr<RateLimitDecision> RedisCoordinator::RateLimitTake(
    const RateLimitTakeParams& params) {
  if (absl::Status s = ValidateRateLimit(params); !s.ok()) return s;
  double interval_us =
      absl::ToDoubleMicroseconds(params.period) / static_cast<double>(params.limit);
  auto r = client_->Eval(rate_limit_take_, {Key("rate", params.key)},
                         {absl::StrFormat("%.3f", interval_us), absl::StrCat(params.cost)});
  if (!r.ok()) return r.status();
  if (r->type != redis::Reply::Type::kArray || r->elements.size() != 2) {
    return BadReply("rate_limit_take.lua", *r);
  }
  auto allowed = r->elements[0].AsInt();
  auto retry_us = r->elements[1].AsInt();
  if (!allowed.ok() || !retry_us.ok()) return BadReply("rate_limit_take.lua", *r);
  return RateLimitDecision{.allowed = *allowed == 1, .retry_after = absl::Microseconds(*retry_us)};
}

absl::Status RedisCoordinator::WorkerRegister(const WorkerRegisterParams& params) {
  if (absl::Status s = ValidateWorkerRegister(params); !s.ok()) return s;
  WorkerInfo info = params.worker;
  info.last_heartbeat_at = absl::UnixEpoch();  // kept by Redis (TIME)
  auto r = client_->Eval(worker_register_, {Key("worker", info.id), prefix_ + "workers"},
                         {info.id, WorkerToJson(info), absl::StrCat(info.running), Ms(params.ttl)});
  return r.status();
}

absl::Status RedisCoordinator::WorkerHeartbeat(const WorkerHeartbeatParams& params) {
  if (absl::Status s = ValidateWorkerHeartbeat(params); !s.ok()) return s;
  auto r = client_->Eval(worker_heartbeat_, {Key("worker", params.worker_id), prefix_ + "workers"},
                         {params.worker_id, absl::StrCat(params.running), Ms(params.ttl)});
  if (!r.ok()) return r.status();
  auto n = r->AsInt();
  if (!n.ok()) return BadReply("worker_heartbeat.lua", *r);
  if (*n == 0) {
    return absl::NotFoundError(
        absl::StrFormat("worker %s is not registered (deregistered or expired): register it again",
                        params.worker_id));
  }
  return absl::OkStatus();
}

absl::Status RedisCoordinator::WorkerDeregister(const std::string& worker_id) {
  if (absl::Status s = ValidateWorkerId(worker_id); !s.ok()) return s;
  auto r = client_->Eval(worker_deregister_, {Key("worker", worker_id), prefix_ + "workers"},
                         {worker_id});
  return r.status();
}

absl::StatusOr<std::vector<WorkerInfo>> RedisCoordinator::WorkerList() {
  auto r = client_->Eval(worker_list_, {prefix_ + "workers"}, {Key("worker", "")});
  if (!r.ok()) return r.status();
  if (r->type != redis::Reply::Type::kArray || r->elements.size() % 4 != 0) {
    return BadReply("worker_list.lua", *r);
  }
  std::vector<WorkerInfo> out;
  for (size_t i = 0; i < r->elements.size(); i += 4) {
    std::optional<WorkerInfo> w = WorkerFromJson(r->elements[i + 1].str);
    if (!w) continue;  // not written by this library
    w->id = r->elements[i].str;
    auto running = r->elements[i + 2].AsInt();
    auto beat_us = r->elements[i + 3].AsInt();
    w->running = running.ok() ? static_cast<int>(*running) : 0;
    w->last_heartbeat_at = absl::FromUnixMicros(beat_us.ok() ? *beat_us : 0);
    out.push_back(std::move(*w));
  }
  return out;
}

absl::Status RedisCoordinator::WakePublish(const std::string& queue) {
  return client_->Command({"PUBLISH", prefix_ + "wake", queue}).status();
}

absl::StatusOr<int> RedisCoordinator::WakeSubscribe(
    std::function<void(const std::string& queue)> on_wake) {
  if (!on_wake) return absl::InvalidArgumentError("wake callback is empty");
  return subscriber_.Add(std::move(on_wake));
}

void RedisCoordinator::WakeUnsubscribe(int handle) { subscriber_.Remove(handle); }

}  // namespace popqueue::coord
