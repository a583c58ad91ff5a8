// The SUBSCRIBE side of the Redis store's wake-ups.
//
// The insert, requeue and cron scripts (and QueueResume) PUBLISH the queue on
// the channel "{<prefix>}:available" once per queue per script call. One
// dedicated connection per store SUBSCRIBEs to it; a thread reads messages
// (waking every 200 ms to check for shutdown) and calls every subscriber.
// When the connection drops, the thread reconnects with the client's
// backoff (50 ms doubling to 2 s) and subscribes again; messages published
// meanwhile are lost (Redis pub/sub is fire-and-forget), which the engine's
// polling fallback covers.
//
// Thread-safe. Callbacks run on the listener thread with the subscriber lock
// held: keep them quick and do not call Subscribe/Unsubscribe from them.
#ifndef POPQUEUE_STORE_REDIS_REDIS_LISTENER_H_
#define POPQUEUE_STORE_REDIS_REDIS_LISTENER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"

namespace popqueue::store::redis_store {

class Listener {
 public:
  using Callback = std::function<void(const std::string& queue)>;

  Listener(std::shared_ptr<redis::Client> client, std::string channel);
  ~Listener();  // stops and joins the thread
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The first call subscribes before returning (so messages published after
  // it returns are seen) and starts the thread; kUnavailable when Redis
  // cannot be reached then. Returns a handle for Unsubscribe.
  absl::StatusOr<int> Subscribe(Callback callback);
  // After it returns the callback is not running and will not be called.
  void Unsubscribe(int handle);

 private:
  absl::StatusOr<std::unique_ptr<redis::Connection>> Connect();
  void Run(std::unique_ptr<redis::Connection> conn);
  bool stopping();

  const std::shared_ptr<redis::Client> client_;
  const std::string channel_;
  Mutex start_mu_;  // serializes the first Subscribe
  std::thread thread_;
  Mutex mu_;
  std::map<int, Callback> callbacks_ ABSL_GUARDED_BY(mu_);
  int next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace popqueue::store::redis_store

#endif  // POPQUEUE_STORE_REDIS_REDIS_LISTENER_H_
