#include "coord/memcached/mc_client.h"

#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace popqueue::coord::mc {
namespace {

constexpr size_t kMaxKeyBytes = 250;
constexpr uint32_t kPoolSize = 16;

bool IsConnectionError(memcached_return_t rc) {
  switch (rc) {
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_CONNECTION_BIND_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_PARTIAL_READ:
    case MEMCACHED_SOME_ERRORS:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_ERRNO:
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_IN_PROGRESS:
    case MEMCACHED_ERROR:  // also CONNECTION_SOCKET_CREATE_FAILURE
      return true;
    default: return false;
  }
}

// The URL's ?connect_timeout_ms=N&timeout_ms=N, in milliseconds.
struct Timeouts {
  int connect_ms = 1000;
  int io_ms = 1000;
};

absl::StatusOr<Timeouts> ParseTimeouts(const std::string& url, const std::string& query) {
  Timeouts t;
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    int* target = p.first == "connect_timeout_ms" ? &t.connect_ms
                  : p.first == "timeout_ms"       ? &t.io_ms
                                                  : nullptr;
    if (target == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("cache URL \"%s\": unknown option \"%s\" (supported: "
                          "connect_timeout_ms, timeout_ms)",
                          url, p.first));
    }
    if (!absl::SimpleAtoi(p.second, target) || *target < 1 || *target > 3600000) {
      return absl::InvalidArgumentError(
          absl::StrFormat("cache URL \"%s\": %s=\"%s\" must be milliseconds from 1 to 3600000", url,
                          p.first, p.second));
    }
  }
  return t;
}

}  // namespace

// One pooled connection, returned to the pool on destruction.
class Client::Borrowed {
 public:
  explicit Borrowed(memcached_pool_st* pool) : pool_(pool) {
    memcached_return_t rc;
    mc_ = memcached_pool_pop(pool_, /*block=*/true, &rc);
  }
  ~Borrowed() {
    if (mc_ != nullptr) memcached_pool_push(pool_, mc_);
  }
  memcached_st* get() const { return mc_; }

 private:
  memcached_pool_st* pool_;
  memcached_st* mc_;
};

namespace {

absl::Status ToStatus(memcached_st* mc, memcached_return_t rc, const std::string& servers,
                      std::string_view op) {
  const char* detail = mc ? memcached_last_error_message(mc) : nullptr;
  std::string text = detail && *detail ? detail : memcached_strerror(mc, rc);
  if (IsConnectionError(rc)) {
    return absl::UnavailableError(absl::StrFormat(
        "memcached %s: %s unreachable (%s); is memcached running there?", op, servers, text));
  }
  return absl::InternalError(absl::StrFormat("memcached %s at %s: %s", op, servers, text));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const std::string& url) {
  constexpr std::string_view kScheme = "memcached://";
  if (url.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cache URL \"%s\": expected memcached://host[:port][,host[:port]...]", url));
  }
  std::string rest = url.substr(kScheme.size());
  absl::StatusOr<Timeouts> timeouts = Timeouts();
  if (size_t q = rest.find('?'); q != std::string::npos) {
    timeouts = ParseTimeouts(url, rest.substr(q + 1));
    if (!timeouts.ok()) return timeouts.status();
    rest.resize(q);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("@/?") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cache URL \"%s\": expected memcached://host[:port][,host[:port]...]"
                        "[?connect_timeout_ms=N&timeout_ms=N] (no user or path)",
                        url));
  }
  std::vector<std::pair<std::string, int>> servers;
  for (absl::string_view part : absl::StrSplit(rest, ',')) {
    std::string hp(part);
    std::string host = hp;
    int port = 11211;
    if (size_t colon = hp.rfind(':');
        colon != std::string::npos && hp.find(']') == std::string::npos) {
      host = hp.substr(0, colon);
      if (!absl::SimpleAtoi(hp.substr(colon + 1), &port) || port < 1 || port > 65535) {
        return absl::InvalidArgumentError(
            absl::StrFormat("cache URL \"%s\": bad port in \"%s\" (expected 1-65535)", url, hp));
      }
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("cache URL \"%s\": empty host in \"%s\"", url, hp));
    }
    servers.emplace_back(host, port);
  }
  std::vector<std::string> names;
  for (const auto& [h, p] : servers) names.push_back(absl::StrCat(h, ":", p));
  std::string joined = absl::StrJoin(names, ",");

  memcached_st* master = memcached_create(nullptr);
  if (master == nullptr) return absl::ResourceExhaustedError("memcached_create failed");
  for (const auto& [h, p] : servers) {
    memcached_return_t rc = memcached_server_add(master, h.c_str(), static_cast<in_port_t>(p));
    if (memcached_failed(rc)) {
      absl::Status s = ToStatus(master, rc, joined, "server_add");
      memcached_free(master);
      return s;
    }
  }
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  // libmemcached's sockets are non-blocking: the connect waits up to
  // CONNECT_TIMEOUT, every read or write wait up to POLL_TIMEOUT; the
  // SO_RCVTIMEO/SO_SNDTIMEO pair (in µs) bounds any blocking call too.
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                         static_cast<uint64_t>(timeouts->connect_ms));
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
                         static_cast<uint64_t>(timeouts->io_ms));
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_RCV_TIMEOUT,
                         static_cast<uint64_t>(timeouts->io_ms) * 1000);
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_SND_TIMEOUT,
                         static_cast<uint64_t>(timeouts->io_ms) * 1000);
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_TCP_KEEPALIVE, 1);
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_TCP_KEEPIDLE, 15);  // s
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);  // s
  // Keep a failed server in the list (retried after RETRY_TIMEOUT) rather
  // than ejecting it and re-hashing its keys onto the others.
  memcached_behavior_set(master, MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, 0);

  memcached_pool_st* pool = memcached_pool_create(master, 1, kPoolSize);
  if (pool == nullptr) {
    memcached_free(master);
    return absl::ResourceExhaustedError("memcached_pool_create failed");
  }
  std::unique_ptr<Client> client(new Client(master, pool, joined));
  // Check now that the servers answer, so a wrong URL fails at start-up.
  Borrowed b(pool);
  if (b.get() == nullptr) return absl::ResourceExhaustedError("memcached pool is empty");
  memcached_stat_st* stats = nullptr;
  memcached_return_t rc;
  stats = memcached_stat(b.get(), nullptr, &rc);
  if (stats != nullptr) memcached_stat_free(b.get(), stats);
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, joined, "connect");
  return client;
}

Client::~Client() {
  memcached_pool_destroy(pool_);
  memcached_free(master_);
}

std::string Client::SafeKey(const std::string& key) {
  std::string out;
  for (unsigned char c : key) {
    if (c <= 0x20 || c == 0x7f || c == '%') {
      absl::StrAppendFormat(&out, "%%%02X", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (out.size() <= kMaxKeyBytes) return out;
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across processes
  for (unsigned char c : out) h = (h ^ c) * 1099511628211ull;
  return absl::StrFormat("%s#%016x", out.substr(0, kMaxKeyBytes - 17), h);
}

int64_t Client::ExpirySeconds(absl::Duration ttl) {
  if (ttl == absl::InfiniteDuration()) return 0;
  int64_t s = static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(ttl)));
  // Beyond 30 days memcached reads the number as a Unix time.
  return std::clamp<int64_t>(s, 1, 30 * 24 * 3600);
}

absl::StatusOr<std::optional<Item>> Client::Get(const std::string& key) {
  auto many = GetMany({key});
  if (!many.ok()) return many.status();
  auto it = many->find(key);
  if (it == many->end()) return std::nullopt;
  return std::move(it->second);
}

absl::StatusOr<std::map<std::string, Item>> Client::GetMany(const std::vector<std::string>& keys) {
  std::map<std::string, Item> out;
  if (keys.empty()) return out;
  std::vector<std::string> safe;
  std::map<std::string, std::string> original;  // safe key -> caller's key
  for (const std::string& k : keys) {
    safe.push_back(SafeKey(k));
    original[safe.back()] = k;
  }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& k : safe) {
    ptrs.push_back(k.data());
    lens.push_back(k.size());
  }
  Borrowed b(pool_);
  memcached_return_t rc = memcached_mget(b.get(), ptrs.data(), lens.data(), ptrs.size());
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, servers_, "get");
  // On the stack: libmemcached frees a heap-allocated result itself once
  // the fetch ends, but never one it did not allocate.
  memcached_result_st storage;
  memcached_result_st* result = memcached_result_create(b.get(), &storage);
  while (memcached_fetch_result(b.get(), result, &rc) != nullptr) {
    std::string k(memcached_result_key_value(result), memcached_result_key_length(result));
    auto it = original.find(k);
    if (it == original.end()) continue;
    out[it->second] =
        Item{.value = std::string(memcached_result_value(result), memcached_result_length(result)),
             .cas = memcached_result_cas(result)};
  }
  memcached_result_free(result);
  if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && memcached_failed(rc)) {
    return ToStatus(b.get(), rc, servers_, "get");
  }
  return out;
}

absl::StatusOr<bool> Client::Add(const std::string& key, const std::string& value,
                                 absl::Duration ttl) {
  std::string k = SafeKey(key);
  Borrowed b(pool_);
  memcached_return_t rc =
      memcached_add(b.get(), k.data(), k.size(), value.data(), value.size(), ExpirySeconds(ttl), 0);
  if (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS) return false;
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, servers_, "add");
  return true;
}

absl::StatusOr<bool> Client::Cas(const std::string& key, const std::string& value,
                                 absl::Duration ttl, uint64_t cas) {
  std::string k = SafeKey(key);
  Borrowed b(pool_);
  memcached_return_t rc = memcached_cas(b.get(), k.data(), k.size(), value.data(), value.size(),
                                        ExpirySeconds(ttl), 0, cas);
  if (rc == MEMCACHED_DATA_EXISTS || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_NOTSTORED) {
    return false;
  }
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, servers_, "cas");
  return true;
}

absl::StatusOr<bool> Client::CasDelete(const std::string& key, uint64_t cas) {
  std::string k = SafeKey(key);
  Borrowed b(pool_);
  // memcached treats a negative expiry as "already expired".
  memcached_return_t rc =
      memcached_cas(b.get(), k.data(), k.size(), "", 0, static_cast<time_t>(-1), 0, cas);
  if (rc == MEMCACHED_DATA_EXISTS || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_NOTSTORED) {
    return false;
  }
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, servers_, "cas");
  return true;
}

absl::Status Client::Set(const std::string& key, const std::string& value, absl::Duration ttl) {
  std::string k = SafeKey(key);
  Borrowed b(pool_);
  memcached_return_t rc =
      memcached_set(b.get(), k.data(), k.size(), value.data(), value.size(), ExpirySeconds(ttl), 0);
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, servers_, "set");
  return absl::OkStatus();
}

absl::StatusOr<bool> Client::Delete(const std::string& key) {
  std::string k = SafeKey(key);
  Borrowed b(pool_);
  memcached_return_t rc = memcached_delete(b.get(), k.data(), k.size(), 0);
  if (rc == MEMCACHED_NOTFOUND) return false;
  if (memcached_failed(rc)) return ToStatus(b.get(), rc, servers_, "delete");
  return true;
}

}  // namespace popqueue::coord::mc
