// Redis Cluster's addressing, as pure functions (no I/O): the slot of a key
// (CRC16 with hash tags, as the cluster specification defines it), the
// parse of a CLUSTER SLOTS reply into a slot -> master table, the parse of
// MOVED/ASK redirections, and which argument of a command is its key.
//
// Used by cluster_router.{h,cc}; kept apart so the rules are unit-tested
// without a server (tests/redis/redis_slot_test.cc).
#ifndef POPQUEUE_COMMON_REDIS_SLOT_MAP_H_
#define POPQUEUE_COMMON_REDIS_SLOT_MAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace popqueue::redis {

struct Reply;

inline constexpr int kClusterSlots = 16384;

// CRC16-CCITT (XMODEM), the cluster's key hash.
uint16_t Crc16(std::string_view s);
// The slot of `key`: of the text between the first "{" and the next "}"
// when that is non-empty, else of the whole key.
int KeySlot(std::string_view key);

struct NodeAddress {
  std::string host;
  int port = 0;
  std::string Endpoint() const;  // "host:port"
  bool operator==(const NodeAddress& o) const { return host == o.host && port == o.port; }
};

// The masters of a cluster and which one serves each slot.
struct SlotMap {
  std::vector<NodeAddress> masters;  // each once
  // Index into `masters` per slot; -1 when no master serves the slot.
  std::vector<int> owner = std::vector<int>(kClusterSlots, -1);
  // Slots no master serves.
  int Uncovered() const;
};

// From a CLUSTER SLOTS reply: [[start, end, [ip, port, id, ...], replicas...],
// ...]. An empty ip means "the node that answered" (`answered_by.host`).
// kInternal for a malformed reply.
absl::StatusOr<SlotMap> ParseClusterSlots(const Reply& reply, const NodeAddress& answered_by);

// A "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" error reply.
struct Redirect {
  bool ask = false;  // ASK (one command, after ASKING) rather than MOVED
  int slot = 0;
  NodeAddress to;
};
std::optional<Redirect> ParseRedirect(std::string_view error_text);

// The index of a command's first key in `args`, or nullopt for a command
// without one (PING, PUBLISH, EVAL with no keys, ...). Commands not known
// to be keyless have their key at index 1, as nearly all Redis commands do.
std::optional<size_t> FirstKeyIndex(const std::vector<std::string>& args);

// True for commands whose answer is per node (SCAN, KEYS, DBSIZE, FLUSHALL,
// FLUSHDB, RANDOMKEY, SCRIPT): on a cluster they go to every master
// (Client::CommandOnEveryMaster, Client::ScanKeys), never to "any" node.
bool IsPerNodeCommand(const std::vector<std::string>& args);

}  // namespace popqueue::redis

#endif  // POPQUEUE_COMMON_REDIS_SLOT_MAP_H_
