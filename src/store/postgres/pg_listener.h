// The LISTEN side of the PostgreSQL store's wake-ups.
//
// One dedicated connection per store LISTENs on the collection's channel; a
// thread waits on its socket (and on a pipe for shutdown) and calls every
// subscriber with the notification's payload, the queue name. Inserts send
// one pg_notify per queue per batch (see job_insert_many.sql), so a batch of
// 1000 jobs wakes each subscriber once.
//
// When the connection drops, the thread reconnects with backoff (100 ms
// doubling to 2 s) and LISTENs again; notifications sent while it was away
// are lost, which the engine's polling fallback covers.
//
// Thread-safe. Callbacks run on the listener thread with the subscriber lock
// held: keep them quick and do not call Subscribe/Unsubscribe from them.
#ifndef POPQUEUE_STORE_POSTGRES_PG_LISTENER_H_
#define POPQUEUE_STORE_POSTGRES_PG_LISTENER_H_

#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "store/postgres/pg_conn.h"

namespace popqueue::store::postgres {

class Listener {
 public:
  using Callback = std::function<void(const std::string& queue)>;

  Listener(ConnSettings settings, std::string channel);
  ~Listener();  // stops and joins the thread
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Starts the thread on first use and waits briefly (up to 2 s) for the
  // first LISTEN so that notifications sent right after Subscribe returns
  // are seen. Returns a handle for Unsubscribe.
  int Subscribe(Callback callback);
  // After it returns the callback is not running and will not be called.
  void Unsubscribe(int handle);

  // True while the LISTEN connection is up (for tests).
  bool listening() const;

 private:
  void Run();
  // Waits for notifications until the connection drops or Stop().
  void Listen(PGconn* conn);
  void Dispatch(const std::string& queue);
  bool Sleep(absl::Duration d);  // false when stopping

  const ConnSettings settings_;
  const std::string channel_;
  int wake_fds_[2] = {-1, -1};  // pipe: written to stop the thread

  mutable Mutex mu_;
  std::map<int, Callback> callbacks_ ABSL_GUARDED_BY(mu_);
  int next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool listening_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::store::postgres

#endif  // POPQUEUE_STORE_POSTGRES_PG_LISTENER_H_
