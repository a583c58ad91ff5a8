#include "core/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/thread.h"

namespace popqueue::core {
namespace {

// The self-pipe: the handler writes the signal number, the watcher reads it.
int g_pipe[2] = {-1, -1};

void OnSignal(int signo) {
  int saved = errno;
  char b = static_cast<char>(signo);
  [[maybe_unused]] ssize_t n = write(g_pipe[1], &b, 1);
  errno = saved;
}

struct Registry {
  Mutex mu;
  std::map<int, std::function<void()>> callbacks ABSL_GUARDED_BY(mu);
  int next ABSL_GUARDED_BY(mu) = 1;
  bool installed ABSL_GUARDED_BY(mu) = false;
  struct sigaction old_int, old_term;
  std::thread watcher;
};

Registry& R() {
  static Registry* r = new Registry();
  return *r;
}

void Watch() {
  // The one thread pop-queue starts that takes SIGINT and SIGTERM (it was
  // created with them blocked, like the others: common/thread.h).
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
  char b;
  while (true) {
    // poll() first: ThreadSanitizer runs a signal handler at once only on a
    // thread inside a call it knows blocks, which includes poll() but not
    // read() (elsewhere it defers the handler until the thread's next libc
    // call, which would never come).
    pollfd readable{.fd = g_pipe[0], .events = POLLIN, .revents = 0};
    if (poll(&readable, 1, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    ssize_t n = read(g_pipe[0], &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || b == 0) return;  // 0: uninstall
    Logf(LogLevel::kInfo, "received %s: stopping gracefully", b == SIGINT ? "SIGINT" : "SIGTERM");
    std::vector<std::function<void()>> todo;
    {
      MutexLock lock(&R().mu);
      for (auto& [h, cb] : R().callbacks) todo.push_back(cb);
    }
    for (auto& cb : todo) cb();
  }
}

}  // namespace

int AddStopSignalCallback(std::function<void()> callback) {
  Registry& r = R();
  MutexLock lock(&r.mu);
  if (!r.installed) {
    if (pipe2(g_pipe, O_CLOEXEC) != 0) {
      Logf(LogLevel::kWarn, "cannot create signal pipe; SIGINT/SIGTERM not handled");
      return 0;
    }
    struct sigaction sa = {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &r.old_int);
    sigaction(SIGTERM, &sa, &r.old_term);
    r.watcher = StartThread(Watch);
    r.installed = true;
  }
  int h = r.next++;
  r.callbacks[h] = std::move(callback);
  return h;
}

void RemoveStopSignalCallback(int handle) {
  Registry& r = R();
  std::thread watcher;
  {
    MutexLock lock(&r.mu);
    r.callbacks.erase(handle);
    if (!r.installed || !r.callbacks.empty()) return;
    sigaction(SIGINT, &r.old_int, nullptr);
    sigaction(SIGTERM, &r.old_term, nullptr);
    char zero = 0;
    [[maybe_unused]] ssize_t n = write(g_pipe[1], &zero, 1);
    watcher = std::move(r.watcher);
    r.installed = false;
  }
  // The watcher may be the caller (a callback that stops the last queue).
  if (watcher.get_id() == std::this_thread::get_id()) {
    watcher.detach();
  } else if (watcher.joinable()) {
    watcher.join();
  }
  close(g_pipe[0]);
  close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

}  // namespace popqueue::core
