// A pool of connections to one Redis server (one node of a cluster, or the
// whole of a single-node deployment).
//
// Connections are lent one per call and returned when the call is done. A
// broken connection is dropped with every idle connection opened before it
// (they most likely point at the same dead server: a generation counter
// retires them); the next call opens a fresh one. After a failed connect,
// new connects wait an exponential backoff (50 ms doubling to 2 s); calls
// in that window fail at once with kUnavailable instead of each waiting for
// a timeout.
//
// Thread-safe.
#ifndef POPQUEUE_COMMON_REDIS_NODE_POOL_H_
#define POPQUEUE_COMMON_REDIS_NODE_POOL_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"

namespace popqueue::redis {

class NodePool {
 public:
  explicit NodePool(Options options) : options_(std::move(options)) {}

  // A connection lent to the caller. It returns to the pool on destruction
  // unless broken.
  class Lease {
   public:
    Lease(NodePool* pool, std::unique_ptr<Connection> conn, uint64_t gen)
        : pool_(pool), conn_(std::move(conn)), generation_(gen) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    NodePool* pool_;
    std::unique_ptr<Connection> conn_;
    uint64_t generation_ = 0;
  };
  absl::StatusOr<Lease> Acquire();

  // A dedicated connection outside the pool (e.g. for SUBSCRIBE), honouring
  // the reconnect backoff.
  absl::StatusOr<std::unique_ptr<Connection>> OpenDedicated();

  const Options& options() const { return options_; }

 private:
  void Release(std::unique_ptr<Connection> conn, uint64_t generation);

  const Options options_;
  Mutex mu_;
  std::vector<std::pair<std::unique_ptr<Connection>, uint64_t>> idle_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_connect_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::redis

#endif  // POPQUEUE_COMMON_REDIS_NODE_POOL_H_
