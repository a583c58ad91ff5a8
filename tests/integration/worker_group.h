// Worker processes of the drain tests (drain_test.cc, drain_cluster_test.cc)
// and their start barrier: each writes one byte to stdout once its store is
// open and starts working when its stdin reaches end-of-file
// (drain_worker.cc), so that all start together.
#ifndef POPQUEUE_TESTS_INTEGRATION_WORKER_GROUP_H_
#define POPQUEUE_TESTS_INTEGRATION_WORKER_GROUP_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/time/clock.h"

namespace popqueue {

constexpr int kWorkers = 4;

// Four worker processes and the pipes of their start barrier.
class WorkerGroup {
 public:
  ~WorkerGroup() {
    Terminate();
    if (ready_ >= 0) close(ready_);
    if (go_ >= 0) close(go_);
  }

  // Forks `kWorkers` processes running `args`; false on failure.
  bool Spawn(const std::vector<std::string>& args) {
    int go[2], ready[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0) return false;
    go_ = go[1];
    ready_ = ready[0];
    for (int w = 0; w < kWorkers; ++w) {
      const pid_t pid = fork();
      if (pid < 0) return false;
      if (pid == 0) {
        // dup2 clears close-on-exec on the copies only.
        if (dup2(go[0], STDIN_FILENO) < 0 || dup2(ready[1], STDOUT_FILENO) < 0) {
          _exit(127);
        }
        std::vector<char*> argv;
        for (const std::string& a : args) {
          argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
      }
      pids_.push_back(pid);
    }
    close(go[0]);
    close(ready[1]);
    return true;
  }

  // Waits until every worker opened its store, then lets them all start.
  bool Start(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    int ready = 0;
    while (ready < kWorkers) {
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      pollfd p{.fd = ready_, .events = POLLIN, .revents = 0};
      if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
      char buf[kWorkers];
      const ssize_t n = read(ready_, buf, sizeof(buf));
      if (n <= 0) return false;  // a worker died before it was ready
      ready += static_cast<int>(n);
    }
    close(go_);  // end-of-file on every worker's stdin: go
    go_ = -1;
    return true;
  }

  // True while no worker has exited.
  bool Alive() {
    for (pid_t pid : pids_) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited_.push_back(pid);
        return false;
      }
    }
    return exited_.empty();
  }

  // SIGTERM (graceful drain) and reap.
  void Terminate() {
    for (pid_t pid : pids_) {
      if (std::find(exited_.begin(), exited_.end(), pid) == exited_.end()) {
        kill(pid, SIGTERM);
      }
    }
    for (pid_t pid : pids_) {
      int status = 0;
      if (std::find(exited_.begin(), exited_.end(), pid) == exited_.end()) {
        waitpid(pid, &status, 0);
      }
    }
    exited_ = pids_;
  }

  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  std::vector<pid_t> pids_;
  std::vector<pid_t> exited_;
  int go_ = -1;     // write end: closed = start
  int ready_ = -1;  // read end: one byte per ready worker
};

inline int64_t CountLines(const std::string& path) {
  std::ifstream in(path);
  return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
}

}  // namespace popqueue

#endif  // POPQUEUE_TESTS_INTEGRATION_WORKER_GROUP_H_
