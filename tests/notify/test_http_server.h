// A real HTTP server on 127.0.0.1 (an ephemeral port) for the notification
// tests: it records every request and answers with a test-supplied responder,
// which may hang until the test calls ReleaseHanging().
#ifndef POPQUEUE_TESTS_NOTIFY_TEST_HTTP_SERVER_H_
#define POPQUEUE_TESTS_NOTIFY_TEST_HTTP_SERVER_H_

#include <httplib.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace popqueue::notify::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string body;
  httplib::Headers headers;
  absl::Time at;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class TestHttpServer {
 public:
  // `index` counts requests from 0, so a responder can fail the first ones.
  using Responder = std::function<void(int index, const httplib::Request&, httplib::Response&)>;

  // With `hang`, every request first blocks in Hang() (until ReleaseHanging()
  // or the destructor); a null responder answers 200.
  explicit TestHttpServer(Responder responder, bool hang = false)
      : responder_(std::move(responder)), hang_(hang) {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      int index;
      {
        MutexLock lock(&mu_);
        index = static_cast<int>(requests_.size());
        requests_.push_back({req.method, req.path, req.body, req.headers, absl::Now()});
      }
      if (hang_) Hang();
      if (responder_) {
        responder_(index, req, res);
      } else {
        res.status = 200;
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // bind_to_any_port also listens: clients may connect before the thread runs.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  ~TestHttpServer() {
    ReleaseHanging();
    // stop() is a no-op until the accept loop runs; it starts at once.
    while (!server_.is_running()) std::this_thread::yield();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string Url(const std::string& path = "/hook") const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

  // For responders that hang: blocks until ReleaseHanging() or `limit`.
  void Hang(absl::Duration limit = absl::Seconds(30)) {
    release_.WaitForNotificationWithTimeout(limit);
  }
  void ReleaseHanging() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  std::vector<RecordedRequest> requests() const {
    MutexLock lock(&mu_);
    return requests_;
  }
  // Waits until `n` requests arrived.
  bool WaitForRequests(size_t n, absl::Duration timeout = absl::Seconds(10)) const {
    MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  const Responder responder_;
  const bool hang_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  popqueue::Notification release_;
  mutable Mutex mu_;
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::notify::testing

#endif  // POPQUEUE_TESTS_NOTIFY_TEST_HTTP_SERVER_H_
