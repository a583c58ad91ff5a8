#include "common/redis/slot_map.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/redis/redis_client.h"

namespace popqueue::redis {
namespace {

std::string Upper(std::string_view s) {
  return absl::AsciiStrToUpper(absl::string_view(s.data(), s.size()));
}

absl::Status Malformed(std::string_view what) {
  return absl::InternalError(absl::StrCat("malformed CLUSTER SLOTS reply: ", std::string(what)));
}

}  // namespace

uint16_t Crc16(std::string_view s) {
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

int KeySlot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kClusterSlots - 1);
}

std::string NodeAddress::Endpoint() const { return absl::StrCat(host, ":", port); }

int SlotMap::Uncovered() const {
  return static_cast<int>(std::count(owner.begin(), owner.end(), -1));
}

absl::StatusOr<SlotMap> ParseClusterSlots(const Reply& reply, const NodeAddress& answered_by) {
  if (reply.type != Reply::Type::kArray) return Malformed("not an array");
  SlotMap map;
  for (const Reply& range : reply.elements) {
    if (range.type != Reply::Type::kArray || range.elements.size() < 3 ||
        range.elements[2].type != Reply::Type::kArray || range.elements[2].elements.size() < 2) {
      return Malformed("a slot range without a master");
    }
    absl::StatusOr<int64_t> start = range.elements[0].AsInt();
    absl::StatusOr<int64_t> end = range.elements[1].AsInt();
    absl::StatusOr<int64_t> port = range.elements[2].elements[1].AsInt();
    if (!start.ok() || !end.ok() || !port.ok() || *start < 0 || *end >= kClusterSlots ||
        *start > *end) {
      return Malformed("a bad slot range or port");
    }
    NodeAddress master{.host = range.elements[2].elements[0].str, .port = static_cast<int>(*port)};
    if (master.host.empty() || master.host == "?") master.host = answered_by.host;
    auto it = std::find(map.masters.begin(), map.masters.end(), master);
    int index = static_cast<int>(it - map.masters.begin());
    if (it == map.masters.end()) map.masters.push_back(master);
    std::fill(map.owner.begin() + *start, map.owner.begin() + *end + 1, index);
  }
  return map;
}

std::optional<Redirect> ParseRedirect(std::string_view text) {
  Redirect r;
  if (text.substr(0, 6) == "MOVED ") {
    text.remove_prefix(6);
  } else if (text.substr(0, 4) == "ASK ") {
    r.ask = true;
    text.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view endpoint = text.substr(space + 1);
  size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(absl::string_view(text.data(), space), &r.slot) ||
      !absl::SimpleAtoi(absl::string_view(endpoint.data() + colon + 1, endpoint.size() - colon - 1),
                        &r.to.port) ||
      r.slot < 0 || r.slot >= kClusterSlots) {
    return std::nullopt;
  }
  r.to.host = std::string(endpoint.substr(0, colon));
  return r;
}

std::optional<size_t> FirstKeyIndex(const std::vector<std::string>& args) {
  if (args.size() < 2) return std::nullopt;
  const std::string cmd = Upper(args[0]);
  if (cmd == "EVAL" || cmd == "EVALSHA" || cmd == "EVAL_RO" || cmd == "EVALSHA_RO" ||
      cmd == "FCALL" || cmd == "FCALL_RO") {
    int64_t numkeys = 0;
    if (args.size() < 4 || !absl::SimpleAtoi(args[2], &numkeys) || numkeys < 1) {
      return std::nullopt;
    }
    return 3;
  }
  for (const char* keyless :
       {"PING",    "ECHO",   "PUBLISH",  "SUBSCRIBE", "PSUBSCRIBE", "INFO",    "TIME",
        "CLUSTER", "CONFIG", "CLIENT",   "COMMAND",   "WAIT",       "SCRIPT",  "SCAN",
        "KEYS",    "DBSIZE", "FLUSHALL", "FLUSHDB",   "RANDOMKEY",  "AUTH",    "HELLO",
        "SELECT",  "ASKING", "READONLY", "MULTI",     "EXEC",       "DISCARD", "LASTSAVE",
        "ROLE",    "MEMORY", "LATENCY",  "SLOWLOG",   "DEBUG",      "FUNCTION"}) {
    if (cmd == keyless) return std::nullopt;
  }
  return 1;
}

bool IsPerNodeCommand(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  const std::string cmd = Upper(args[0]);
  for (const char* per_node :
       {"SCAN", "KEYS", "DBSIZE", "FLUSHALL", "FLUSHDB", "RANDOMKEY", "SCRIPT"}) {
    if (cmd == per_node) return true;
  }
  return false;
}

}  // namespace popqueue::redis
