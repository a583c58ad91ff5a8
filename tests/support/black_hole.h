// A TCP peer on 127.0.0.1 that never answers, for the timeout tests of every
// network client (tests/{postgres,redis,coord,mongodb,notify}/*timeout_test.cc).
//
//   kSilent:      connections are accepted and held open; whatever the client
//                 sends is acknowledged by the kernel and never answered (a
//                 hung server, or a proxy whose backend is gone).
//   kNeverAccept: the accept queue is full, so the kernel drops new SYNs and
//                 connect() hangs as it does across a network partition.
//
// Needs no server and no privileges. The port is chosen by the kernel.
#ifndef POPQUEUE_TESTS_SUPPORT_BLACK_HOLE_H_
#define POPQUEUE_TESTS_SUPPORT_BLACK_HOLE_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace popqueue::testing {

class BlackHole {
 public:
  enum class Mode { kSilent, kNeverAccept };

  explicit BlackHole(Mode mode) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    Check(listen_fd_ >= 0, "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    Check(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind");
    socklen_t len = sizeof(addr);
    Check(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
    port_ = ntohs(addr.sin_port);
    if (mode == Mode::kSilent) {
      Check(listen(listen_fd_, 64) == 0, "listen");
      Check(pipe(stop_fds_) == 0, "pipe");
      thread_ = std::thread([this] { AcceptAndHold(); });
    } else {
      Check(listen(listen_fd_, 0) == 0, "listen");
      FillAcceptQueue();
    }
  }

  ~BlackHole() {
    if (thread_.joinable()) {
      char b = 1;
      (void)!write(stop_fds_[1], &b, 1);
      thread_.join();
    }
    for (int fd : held_) close(fd);
    for (int fd : stop_fds_) {
      if (fd >= 0) close(fd);
    }
    close(listen_fd_);
  }

  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;

  int port() const { return port_; }
  std::string HostPort() const { return absl::StrCat("127.0.0.1:", port_); }

  // The sockets of this process connected to the hole (kSilent): the client
  // side, whose options (keepalives, ...) a test may then read.
  static std::vector<int> ClientFds(int port) {
    std::vector<int> out;
    for (int fd = 0; fd < 4096; ++fd) {
      sockaddr_in peer{}, self{};
      socklen_t plen = sizeof(peer), slen = sizeof(self);
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 ||
          getsockname(fd, reinterpret_cast<sockaddr*>(&self), &slen) != 0 ||
          peer.sin_family != AF_INET) {
        continue;
      }
      if (ntohs(peer.sin_port) == port && ntohs(self.sin_port) != port) {
        out.push_back(fd);
      }
    }
    return out;
  }
  std::vector<int> ClientFds() const { return ClientFds(port_); }

  // An int socket option of `fd` (-1 when it cannot be read).
  static int SocketOption(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof(v);
    return getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
  }

 private:
  static void Check(bool ok, const char* what) {
    if (!ok) {
      perror(what);
      std::abort();  // the test cannot run without its peer
    }
  }

  // Accepts every connection and keeps it open, unread, until destroyed.
  void AcceptAndHold() {
    while (true) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fds_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;  // EINTR
      if (fds[1].revents != 0) return;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) held_.push_back(fd);  // only this thread touches held_
    }
  }

  // Connects (without accepting) until a connect no longer completes: from
  // then on the kernel drops SYNs to this port.
  void FillAcceptQueue() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    for (int i = 0; i < 16; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      Check(fd >= 0, "socket");
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, 200) == 1) {
        held_.push_back(fd);  // queued, never accepted
        continue;
      }
      close(fd);  // still in SYN_SENT: the queue is full
      return;
    }
    Check(false, "the accept queue never filled up");
  }

  int listen_fd_ = -1;
  int port_ = 0;
  int stop_fds_[2] = {-1, -1};
  std::vector<int> held_;
  std::thread thread_;
};

// Time `f` takes.
template <typename F>
absl::Duration Timed(F&& f) {
  absl::Time start = absl::Now();
  f();
  return absl::Now() - start;
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_BLACK_HOLE_H_
