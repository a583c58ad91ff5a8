// A small, thread-safe memcached client over libmemcached for the memcached
// coordinator: a pool of connections and the handful of operations it needs
// (get with CAS value, add, CAS, set, delete, multi-get), with libmemcached's
// results translated to absl::Status.
//
// - Servers: memcached://host[:port][,host[:port]...][?options] (default
//   port 11211). Keys are spread over the servers by libmemcached's hashing;
//   each key lives on one server. No SASL.
// - Timeouts (options, milliseconds): connect_timeout_ms (1000) bounds a
//   connect, timeout_ms (1000) every wait for a read or a write, so a server
//   that stops answering fails the call with kUnavailable. TCP keepalives
//   (15 s idle) are on. Unknown options are kInvalidArgument.
// - Errors: a server that cannot be reached, a broken connection or a
//   timeout -> kUnavailable naming the servers; other client/server errors
//   -> kInternal with libmemcached's text. Logical outcomes (not stored,
//   CAS conflict, not found) are values, not errors.
// - Reconnects: libmemcached reconnects by itself. A server that failed is
//   retried after 1 s; calls in between fail at once with kUnavailable.
// - Expiry: memcached counts whole seconds; ttls are rounded up to at least
//   1 s and expire when the server's clock passes them (up to 1 s early).
//
// Thread-safety: Client is safe for concurrent use (each call borrows one
// pooled connection).
#ifndef POPQUEUE_COORD_MEMCACHED_MC_CLIENT_H_
#define POPQUEUE_COORD_MEMCACHED_MC_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct memcached_st;
struct memcached_pool_st;

namespace popqueue::coord::mc {

struct Item {
  std::string value;
  uint64_t cas = 0;
};

class Client {
 public:
  // Parses the URL and checks that every server answers (kUnavailable
  // otherwise); kInvalidArgument for malformed URLs.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const std::string& url);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // nullopt when the key does not exist (or expired, or was evicted).
  absl::StatusOr<std::optional<Item>> Get(const std::string& key);
  // The keys that exist, with their items.
  absl::StatusOr<std::map<std::string, Item>> GetMany(const std::vector<std::string>& keys);
  // False when the key already exists.
  absl::StatusOr<bool> Add(const std::string& key, const std::string& value, absl::Duration ttl);
  // False when the key changed since `cas` was read, or no longer exists.
  absl::StatusOr<bool> Cas(const std::string& key, const std::string& value, absl::Duration ttl,
                           uint64_t cas);
  // Deletes the key only if unchanged since `cas` was read (a CAS with an
  // expiry in the past). False when it changed or is gone.
  absl::StatusOr<bool> CasDelete(const std::string& key, uint64_t cas);
  absl::Status Set(const std::string& key, const std::string& value, absl::Duration ttl);
  // False when the key did not exist.
  absl::StatusOr<bool> Delete(const std::string& key);

  // "host:port,...", for messages.
  const std::string& servers() const { return servers_; }

  // memcached refuses keys over 250 bytes or with spaces and control
  // characters: escapes those bytes (%XX) and shortens long keys to a prefix
  // plus a 64-bit hash.
  static std::string SafeKey(const std::string& key);
  // Whole seconds for memcached: ceil(ttl), at least 1; 0 = never expires.
  static int64_t ExpirySeconds(absl::Duration ttl);

 private:
  Client(memcached_st* master, memcached_pool_st* pool, std::string servers)
      : master_(master), pool_(pool), servers_(std::move(servers)) {}
  class Borrowed;

  memcached_st* master_;
  memcached_pool_st* pool_;
  const std::string servers_;
};

}  // namespace popqueue::coord::mc

#endif  // POPQUEUE_COORD_MEMCACHED_MC_CLIENT_H_
