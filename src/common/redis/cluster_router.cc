#include "common/redis/cluster_router.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace popqueue::redis {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(10);
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(500);
constexpr int kMaxRedirects = 16;

// Refusals that happen before the command runs, so sending it again is
// safe. The last one is what a script gets when it touches a key of a
// migrating slot that has left (lua/lib.lua's probe makes that its first
// access, before any write).
bool IsRetryableRefusal(std::string_view std_text) {
  const absl::string_view text(std_text.data(), std_text.size());
  for (const char* p : {"TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "LOADING", "READONLY"}) {
    if (absl::StartsWith(text, p)) return true;
  }
  return absl::StrContains(text, "Script attempted to access a non local key") ||
         absl::StrContains(text, "the cluster is down");
}

// Runs `call` with at most `left` as the socket timeout (restored after).
absl::StatusOr<Reply> WithinDeadline(Connection& conn, absl::Duration left,
                                     const ClusterRouter::Call& call) {
  const absl::Duration full = conn.options().command_timeout;
  if (left >= full) return call(conn);
  conn.SetCommandTimeout(left);
  absl::StatusOr<Reply> r = call(conn);
  conn.SetCommandTimeout(full);
  return r;
}

}  // namespace

absl::StatusOr<Reply> Acknowledged(Connection& conn, absl::StatusOr<Reply> reply, bool wait,
                                   absl::Time deadline) {
  if (!wait || !reply.ok() || reply->is_error()) return reply;
  if (absl::Status s = conn.WaitForReplicas(deadline); !s.ok()) return s;
  return reply;
}

ClusterRouter::ClusterRouter(Options options) : options_(std::move(options)) {}

std::shared_ptr<NodePool> ClusterRouter::PoolFor(const NodeAddress& node) {
  std::shared_ptr<NodePool>& pool = pools_[node.Endpoint()];
  if (pool == nullptr) {
    Options o = options_;
    o.cluster = false;
    o.seeds.clear();
    o.host = node.host;
    o.port = node.port;
    pool = std::make_shared<NodePool>(std::move(o));
  }
  return pool;
}

absl::Status ClusterRouter::Refresh() {
  MutexLock refresh(&refresh_mu_);
  std::vector<NodeAddress> sources;
  {
    MutexLock lock(&mu_);
    sources = map_.masters;
  }
  for (const NodeAddress& seed : options_.seeds) {
    if (std::find(sources.begin(), sources.end(), seed) == sources.end()) {
      sources.push_back(seed);
    }
  }
  std::optional<SlotMap> best;
  std::vector<std::string> errors;
  for (const NodeAddress& node : sources) {
    std::shared_ptr<NodePool> pool;
    {
      MutexLock lock(&mu_);
      pool = PoolFor(node);
    }
    absl::StatusOr<NodePool::Lease> lease = pool->Acquire();
    if (!lease.ok()) {
      errors.push_back(std::string(lease.status().message()));
      continue;
    }
    absl::StatusOr<Reply> r = (*lease)->Call({"CLUSTER", "SLOTS"});
    if (r.ok() && r->is_error()) {
      if (absl::StrContains(r->str, "cluster support disabled")) {
        return absl::FailedPreconditionError(
            absl::StrCat("Redis at ", node.Endpoint(), " is not a Redis Cluster node (", r->str,
                         "): drop ?cluster=1 / redis+cluster:// from the URL"));
      }
      r = ErrorReplyToStatus(r->str, node.Endpoint());
    }
    absl::StatusOr<SlotMap> map =
        r.ok() ? ParseClusterSlots(*r, node) : absl::StatusOr<SlotMap>(r.status());
    if (!map.ok()) {
      errors.push_back(std::string(map.status().message()));
      continue;
    }
    if (!best || map->Uncovered() < best->Uncovered()) best = *std::move(map);
    if (best->Uncovered() == 0) break;
  }
  last_refresh_ = absl::Now();
  if (!best) {
    return absl::UnavailableError(absl::StrCat("Redis Cluster: no node answered CLUSTER SLOTS: ",
                                               absl::StrJoin(errors, "; ")));
  }
  MutexLock lock(&mu_);
  map_ = *std::move(best);
  for (const NodeAddress& m : map_.masters) PoolFor(m);
  loaded_ = true;
  return absl::OkStatus();
}

void ClusterRouter::RefreshIfDue() {
  {
    MutexLock refresh(&refresh_mu_);
    if (absl::Now() - last_refresh_ < kRefreshInterval) return;
  }
  (void)Refresh();  // a failure shows as the next attempt's error
}

std::shared_ptr<NodePool> ClusterRouter::NodeForSlot(int slot) {
  MutexLock lock(&mu_);
  const int owner = map_.owner[slot];
  if (owner < 0) return nullptr;
  return PoolFor(map_.masters[owner]);
}

std::shared_ptr<NodePool> ClusterRouter::AnyMaster(int rotation) {
  MutexLock lock(&mu_);
  if (map_.masters.empty()) return nullptr;
  return PoolFor(map_.masters[rotation % map_.masters.size()]);
}

void ClusterRouter::Moved(const Redirect& redirect) {
  {
    MutexLock lock(&mu_);
    auto it = std::find(map_.masters.begin(), map_.masters.end(), redirect.to);
    if (it == map_.masters.end()) {
      map_.masters.push_back(redirect.to);
      it = map_.masters.end() - 1;
    }
    map_.owner[redirect.slot] = static_cast<int>(it - map_.masters.begin());
    PoolFor(redirect.to);
  }
  RefreshIfDue();  // a MOVED rarely comes alone (reshard, failover)
}

absl::StatusOr<Reply> ClusterRouter::Run(std::optional<int> slot, const Call& call, bool script) {
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  absl::Duration backoff = kFirstBackoff;
  std::shared_ptr<NodePool> ask_node;
  int redirects = 0;
  int rotation = 0;
  while (true) {
    bool loaded;
    {
      MutexLock lock(&mu_);
      loaded = loaded_;
    }
    if (!loaded) RefreshIfDue();
    const bool asking = ask_node != nullptr;
    std::shared_ptr<NodePool> node =
        asking ? std::move(ask_node) : (slot ? NodeForSlot(*slot) : AnyMaster(rotation++));
    ask_node.reset();
    absl::Status refused;  // why this attempt failed, when it may be retried
    if (node == nullptr) {
      refused =
          absl::UnavailableError(slot ? absl::StrCat("Redis Cluster: no master serves slot ", *slot)
                                      : std::string("Redis Cluster: no master known"));
    } else if (absl::StatusOr<NodePool::Lease> lease = node->Acquire(); !lease.ok()) {
      // Unreachable: never sent, safe to retry. AUTH refused: not retried.
      if (!absl::IsUnavailable(lease.status())) return lease.status();
      refused = lease.status();
    } else {
      const std::string endpoint = node->options().Endpoint();
      const absl::Duration left = deadline - absl::Now();
      absl::StatusOr<Reply> r = WithinDeadline(**lease, std::max(left, absl::Milliseconds(1)),
                                               [&](Connection& c) -> absl::StatusOr<Reply> {
                                                 if (asking) {
                                                   absl::StatusOr<Reply> ok = c.Call({"ASKING"});
                                                   if (!ok.ok() || ok->is_error()) return ok;
                                                 }
                                                 return call(c);
                                               });
      if (!r.ok()) {
        // Sent, reply lost: it may have run. Reload the map for next time.
        {
          MutexLock refresh(&refresh_mu_);
          last_refresh_ = absl::InfinitePast();
        }
        MutexLock lock(&mu_);
        loaded_ = false;
        return r.status();
      }
      if (!r->is_error()) return r;
      std::optional<Redirect> redirect = ParseRedirect(r->str);
      if (redirect && redirect->ask && script) {
        refused = absl::UnavailableError(absl::StrCat("redis ", endpoint, ": slot ", redirect->slot,
                                                      " is being migrated (", r->str,
                                                      "); a script waits until it is done"));
      } else if (redirect) {
        if (++redirects > kMaxRedirects) {
          return absl::UnavailableError(absl::StrCat(
              "Redis Cluster: more than ", kMaxRedirects, " redirections for slot ", redirect->slot,
              " (last from ", endpoint, ": ", r->str, "); is a reshard in progress?"));
        }
        if (redirect->ask) {
          MutexLock lock(&mu_);
          ask_node = PoolFor(redirect->to);
        } else {
          Moved(*redirect);
        }
        continue;
      } else if (!IsRetryableRefusal(r->str)) {
        return ErrorReplyToStatus(r->str, endpoint);
      } else {
        refused = absl::UnavailableError(absl::StrCat("redis ", endpoint, ": ", r->str));
      }
    }
    RefreshIfDue();
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::UnavailableError(
          absl::StrCat(refused.message(), " (Redis Cluster",
                       slot ? absl::StrCat(", slot ", *slot) : std::string(),
                       ": still refused after ", absl::FormatDuration(options_.command_timeout),
                       ", timeout_ms in the URL; a failover takes about 2x "
                       "cluster-node-timeout)"));
    }
    absl::SleepFor(std::min(backoff, left));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::StatusOr<std::vector<Reply>> ClusterRouter::Pipeline(
    const std::vector<std::vector<std::string>>& commands, bool wait) {
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  std::optional<int> slot;
  for (const std::vector<std::string>& args : commands) {
    std::optional<size_t> key = FirstKeyIndex(args);
    if (!key) continue;
    const int s = KeySlot(args[*key]);
    if (slot && *slot != s) {
      return absl::InvalidArgumentError(
          absl::StrCat("Redis Cluster: a pipeline's keys must share one slot (", *slot, " and ", s,
                       ", key \"", args[*key], "\")"));
    }
    slot = s;
  }
  absl::StatusOr<Reply> batch = Run(slot, [&](Connection& c) -> absl::StatusOr<Reply> {
    absl::StatusOr<std::vector<Reply>> replies = c.Pipeline(commands);
    if (!replies.ok()) return replies.status();
    Reply out;
    out.type = Reply::Type::kArray;
    out.elements = *std::move(replies);
    return Acknowledged(c, std::move(out), wait, deadline);
  });
  if (!batch.ok()) return batch.status();
  std::vector<Reply> out = std::move(batch->elements);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].is_error() || (!ParseRedirect(out[i].str) && !IsRetryableRefusal(out[i].str))) {
      continue;
    }
    std::optional<size_t> key = FirstKeyIndex(commands[i]);
    absl::StatusOr<Reply> again =
        Run(key ? std::optional<int>(KeySlot(commands[i][*key])) : std::nullopt,
            [&](Connection& c) { return Acknowledged(c, c.Call(commands[i]), wait, deadline); });
    if (!again.ok()) return again.status();
    out[i] = *std::move(again);
  }
  return out;
}

absl::StatusOr<std::vector<std::shared_ptr<NodePool>>> ClusterRouter::Masters() {
  bool loaded;
  {
    MutexLock lock(&mu_);
    loaded = loaded_;
  }
  if (!loaded) {
    if (absl::Status s = Refresh(); !s.ok()) return s;
  }
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<NodePool>> out;
  for (int i = 0; i < static_cast<int>(map_.masters.size()); ++i) {
    if (std::find(map_.owner.begin(), map_.owner.end(), i) != map_.owner.end()) {
      out.push_back(PoolFor(map_.masters[i]));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Connection>> ClusterRouter::OpenAny() {
  absl::StatusOr<std::vector<std::shared_ptr<NodePool>>> masters = Masters();
  if (!masters.ok()) return masters.status();
  std::vector<std::string> errors;
  for (int round = 0; round < 2; ++round) {
    for (const std::shared_ptr<NodePool>& pool : *masters) {
      absl::StatusOr<std::unique_ptr<Connection>> conn = pool->OpenDedicated();
      if (conn.ok()) return conn;
      errors.push_back(std::string(conn.status().message()));
    }
    // Every master known refused: the map may be stale (a failover).
    if (round == 0) {
      if (absl::Status s = Refresh(); !s.ok()) break;
      masters = Masters();
      if (!masters.ok()) return masters.status();
    }
  }
  return absl::UnavailableError(
      absl::StrCat("Redis Cluster: no master reachable: ", absl::StrJoin(errors, "; ")));
}

}  // namespace popqueue::redis
