// Wake-ups over Redis pub/sub: one dedicated SUBSCRIBE connection and thread
// per coordinator, fanning messages of one channel out to callbacks.
//
// The thread starts with the first callback and reconnects by itself (with
// the client's backoff) when the connection breaks. Pub/sub is fire-and-
// forget: messages published while disconnected are lost, so after every
// reconnect each callback is called once with queue "" ("anything may have
// arrived: look at every queue").
//
// A subscription counts once the server confirms it (within the client's
// command timeout). The connection then idles legitimately, and TCP
// keepalives only catch a dead host: a server that hangs while its host
// keeps acknowledging TCP would leave it silent for ever. So the thread
// sends PING every `ping_interval` (RESP2 allows it in subscribe mode; the
// answer is a ["pong", ""] message) and reconnects when no answer comes
// within the command timeout: a hung server is found within ping_interval +
// timeout_ms.
//
// Thread-safety: safe for concurrent use. Callbacks run on the subscriber
// thread; once Remove returns, its callback is not running and never runs
// again (so a callback must not call Add or Remove itself).
#ifndef POPQUEUE_COORD_REDIS_REDIS_SUBSCRIBER_H_
#define POPQUEUE_COORD_REDIS_REDIS_SUBSCRIBER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/redis/redis_client.h"

namespace popqueue::coord {

class RedisSubscriber {
 public:
  static constexpr absl::Duration kDefaultPingInterval = absl::Seconds(5);

  RedisSubscriber(std::shared_ptr<redis::Client> client, std::string channel,
                  absl::Duration ping_interval = kDefaultPingInterval);
  ~RedisSubscriber();  // stops and joins the thread

  int Add(std::function<void(const std::string& queue)> callback);
  void Remove(int handle);

 private:
  void Loop();
  // Subscribes on a new connection and waits for the confirmation.
  absl::StatusOr<std::unique_ptr<redis::Connection>> Subscribe();
  // Delivers messages until the connection breaks or stops answering PING
  // (returns its error), or until stopping (returns OK).
  absl::Status Listen(redis::Connection& conn);
  void Deliver(const std::string& queue);
  // Waits up to `d`; true when stopping.
  bool WaitForStop(absl::Duration d);

  const std::shared_ptr<redis::Client> client_;
  const std::string channel_;
  const absl::Duration ping_interval_;

  Mutex callbacks_mu_;  // held (shared) while callbacks run
  int next_handle_ ABSL_GUARDED_BY(callbacks_mu_) = 1;
  std::map<int, std::function<void(const std::string&)>> callbacks_ ABSL_GUARDED_BY(callbacks_mu_);

  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_REDIS_REDIS_SUBSCRIBER_H_
