// Routing of commands over a Redis Cluster: the cluster half of
// redis::Client (redis_client.h), which callers never use directly.
//
// How a call travels
// ------------------
// The router keeps a slot map (slot -> master, from CLUSTER SLOTS) and one
// NodePool per node it has heard of. A call names its slot (the slot of its
// first key; keyless calls such as PUBLISH go to any master, rotating past
// unreachable ones) and runs on that slot's master:
//
// - MOVED <slot> <node>: the slot has a new owner (resharding, failover).
//   The entry is corrected at once, the whole map is reloaded (at most every
//   kRefreshInterval), and the call is sent again to the new owner.
// - ASK <slot> <node>: the slot is being migrated and this key has left.
//   A command is sent once to <node>, preceded by ASKING; the map is kept.
//   A script is not: it may touch keys it did not declare, and the
//   importing node would create those anew while the migrating node still
//   holds them (two copies of a job). A script answered ASK is sent again
//   to the slot's owner after a backoff, like TRYAGAIN, until the migration
//   ends and the owner answers MOVED.
// - TRYAGAIN (a multi-key call during a migration), CLUSTERDOWN (a slot
//   without a master, e.g. before a failover completes), MASTERDOWN,
//   LOADING, READONLY and "Script attempted to access a non local key" (a
//   script whose keys are being migrated): refused before running, so sent
//   again after a backoff (10 ms doubling to 500 ms), reloading the map.
// - The master cannot be reached (connect refused or timed out): the map is
//   reloaded from the other nodes and the call retried after the backoff,
//   until the replica that replaces a dead master is elected.
// - A connection that breaks after the call was sent is not retried: the
//   call may or may not have run, and only the caller knows whether running
//   it twice is safe. It fails with kUnavailable naming the node, and the
//   map is reloaded before the next call.
//
// wait=N: the Client's calls that may write pass through Acknowledged, so
// WAIT runs on the connection that wrote, right after a reply that is no
// error (redirections and refusals ran nothing), with what is left of the
// call's deadline. Too few replicas -> kUnavailable from the attempt,
// which the router treats as a reply lost (not retried, map reloaded).
//
// Every call keeps to one deadline, timeout_ms of the URL: retries stop
// when it passes (kUnavailable saying what was last refused and by which
// node), and an attempt started late gets only the time that is left as its
// socket timeout. No call waits longer than timeout_ms (plus one connect
// timeout for the last connect attempt).
//
// Scripts: EVALSHA with SCRIPT LOAD on NOSCRIPT happens per connection, so
// every node loads each script the first time it runs it there.
//
// Thread-safety: safe for concurrent use. The map is read under mu_ (a copy
// of the node's shared pointer per call); reloads are serialized by
// refresh_mu_ and never hold mu_ during I/O.
#ifndef POPQUEUE_COMMON_REDIS_CLUSTER_ROUTER_H_
#define POPQUEUE_COMMON_REDIS_CLUSTER_ROUTER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/redis/node_pool.h"
#include "common/redis/redis_client.h"
#include "common/redis/slot_map.h"

namespace popqueue::redis {

// `reply`, after conn.WaitForReplicas(deadline) when `wait` and the reply
// is no error reply; that wait's failure replaces it.
absl::StatusOr<Reply> Acknowledged(Connection& conn, absl::StatusOr<Reply> reply, bool wait,
                                   absl::Time deadline);

class ClusterRouter {
 public:
  static constexpr absl::Duration kRefreshInterval = absl::Milliseconds(100);

  // No I/O: the map is loaded by Refresh() or on the first call.
  explicit ClusterRouter(Options options);

  // Reloads the slot map from the first node that answers CLUSTER SLOTS
  // (known masters first, then the seeds). kUnavailable naming every node
  // tried when none answers; kFailedPrecondition when a node is not in
  // cluster mode.
  absl::Status Refresh();

  // One attempt on one connection. Returns the raw reply: error replies in
  // place (Reply::kError), a Status only when the connection failed.
  using Call = std::function<absl::StatusOr<Reply>(Connection&)>;
  // Runs `call` on the master of `slot` (nullopt: any master) as described
  // in the file comment. Error replies become a Status naming the node.
  // `script`: an ASK redirection is waited out instead of followed.
  absl::StatusOr<Reply> Run(std::optional<int> slot, const Call& call, bool script = false);

  // The commands in one round trip to the master of their slot (they must
  // share one; keyless ones may ride along). Commands answered with a
  // redirection or a retryable refusal are then run again one by one through
  // Run; other error replies stay in place. `wait`: WAIT after the round
  // trip and after each command run again (see Acknowledged).
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands,
                                              bool wait = false);

  // The pools of the current masters (after loading the map if empty).
  absl::StatusOr<std::vector<std::shared_ptr<NodePool>>> Masters();
  // A dedicated connection to any reachable master (e.g. for SUBSCRIBE:
  // cluster pub/sub reaches every node).
  absl::StatusOr<std::unique_ptr<Connection>> OpenAny();

  const Options& options() const { return options_; }

 private:
  std::shared_ptr<NodePool> PoolFor(const NodeAddress& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<NodePool> NodeForSlot(int slot);
  std::shared_ptr<NodePool> AnyMaster(int rotation);
  void Moved(const Redirect& redirect);
  // Refresh(), unless the map was loaded less than kRefreshInterval ago.
  void RefreshIfDue();

  const Options options_;
  Mutex refresh_mu_;  // serializes reloads; taken before mu_
  absl::Time last_refresh_ ABSL_GUARDED_BY(refresh_mu_) = absl::InfinitePast();
  Mutex mu_;
  std::map<std::string, std::shared_ptr<NodePool>> pools_ ABSL_GUARDED_BY(mu_);
  SlotMap map_ ABSL_GUARDED_BY(mu_);
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace popqueue::redis

#endif  // POPQUEUE_COMMON_REDIS_CLUSTER_ROUTER_H_
