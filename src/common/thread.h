// Threads that pop-queue starts never take SIGINT or SIGTERM.
//
// A process-directed signal goes to any thread that does not block it. With
// these blocked in every thread pop-queue starts, a stop signal reaches the
// application's threads or pop-queue's signal watcher (core/signals.h), never
// a job handler in the middle of a sleep or a read (which the handler would
// see end early with EINTR), and never a thread parked in a futex inside
// Abseil: ThreadSanitizer defers a signal that lands there until that thread
// next calls into the C library, which an idle thread may never do.
#pragma once

#include <signal.h>

#include <thread>
#include <utility>

namespace popqueue {

// {SIGINT, SIGTERM}.
inline sigset_t StopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  return stop;
}

// Blocks SIGINT and SIGTERM on the calling thread for its lifetime.
class BlockStopSignals {
 public:
  BlockStopSignals() {
    const sigset_t stop = StopSignals();
    pthread_sigmask(SIG_BLOCK, &stop, &saved_);
  }
  ~BlockStopSignals() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  BlockStopSignals(const BlockStopSignals&) = delete;
  BlockStopSignals& operator=(const BlockStopSignals&) = delete;

 private:
  sigset_t saved_;
};

// std::thread(args...), with SIGINT and SIGTERM blocked in the new thread
// (a new thread inherits its creator's signal mask).
template <typename... Args>
std::thread StartThread(Args&&... args) {
  BlockStopSignals blocked;
  return std::thread(std::forward<Args>(args)...);
}

}  // namespace popqueue
