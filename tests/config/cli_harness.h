// A harness for tests that run the real `popqueue` binary
// (POPQUEUE_CLI_PATH): start it in a temporary working directory with a
// clean environment, read its output, and talk HTTP to a `serve` it started.
#ifndef POPQUEUE_TESTS_CONFIG_CLI_HARNESS_H_
#define POPQUEUE_TESTS_CONFIG_CLI_HARNESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cli_env.h"

extern char** environ;

namespace popqueue::cli_test {

using Env = std::map<std::string, std::string>;

// A running popqueue with its stdout and stderr on pipes.
struct Child {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
};

// Reads `fd` until EOF or `deadline`; appends to `text`. With `until`, stops
// as soon as `text` matches it. Returns whether it matched (or hit EOF when
// `until` is empty).
inline bool ReadUntil(int fd, std::string& text, const std::string& until,
                      std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  while (true) {
    if (!until.empty() && text.find(until) != std::string::npos) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return until.empty();
    text.append(buf, static_cast<size_t>(n));
  }
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-cfgcli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }

  // Starts popqueue in dir_ with a clean environment (none of the variables
  // it reads, from the caller's) plus `env`.
  Child Start(const std::vector<std::string>& args, const Env& env) {
    std::vector<std::string> argv_s = {POPQUEUE_CLI_PATH};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv = ::popqueue::testing::NullTerminated(argv_s);
    std::vector<std::string> env_s = ::popqueue::testing::EnvironmentWithoutPopqueue();
    for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
    std::vector<char*> envp = ::popqueue::testing::NullTerminated(env_s);

    int out[2], err[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
    Child c;
    int rc = posix_spawn(&c.pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    c.out = out[0];
    c.err = err[0];
    EXPECT_EQ(rc, 0) << std::strerror(rc);
    return c;
  }

  struct Result {
    int exit_code = -1;
    std::string out, err;
  };

  // Runs popqueue to completion (60 s at most).
  Result Run(const std::vector<std::string>& args, const Env& env = {}) {
    Child c = Start(args, env);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    Result r;
    ReadUntil(c.out, r.out, "", deadline);
    ReadUntil(c.err, r.err, "", deadline);
    return Finish(c, r);
  }

  Result Finish(Child& c, Result r) {
    int status = 0;
    waitpid(c.pid, &status, 0);
    close(c.out);
    close(c.err);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }

  // A configuration popqueue must refuse: exit 2, nothing on stdout, and
  // "popqueue: configuration: " on stderr mentioning each of `mentions`.
  struct BadConfig {
    std::string config_json;  // "" = none
    Env env;
    std::vector<std::string> args;
    std::vector<std::string> mentions;
  };
  void ExpectRefused(const std::vector<BadConfig>& cases) {
    for (const BadConfig& c : cases) {
      std::filesystem::remove(dir_ + "/config.json");
      if (!c.config_json.empty()) WriteFile("config.json", c.config_json);
      Result r = Run(c.args, c.env);
      EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(c.args) << r.err;
      EXPECT_EQ(r.out, "");
      EXPECT_THAT(r.err, ::testing::HasSubstr("popqueue: configuration: "));
      for (const std::string& m : c.mentions) {
        EXPECT_THAT(r.err, ::testing::HasSubstr(m)) << ::testing::PrintToString(c.args);
      }
    }
  }

  std::string dir_;
};

// Sends one HTTP/1.0 request to 127.0.0.1:port; returns the whole response
// (the server closes the connection after it).
inline std::string HttpRequest(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return std::string("connect: ") + std::strerror(errno);
  }
  // MSG_NOSIGNAL: a server that answers 413 may close before reading it all.
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  ReadUntil(fd, response, "", std::chrono::steady_clock::now() + std::chrono::seconds(10));
  close(fd);
  return response;
}

// The status line of the response to `request`.
inline std::string HttpStatus(int port, const std::string& request) {
  std::string response = HttpRequest(port, request);
  return response.substr(0, response.find("\r\n"));
}

// The body of the response to `request`.
inline std::string HttpBody(int port, const std::string& request) {
  std::string response = HttpRequest(port, request);
  size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace popqueue::cli_test

#endif  // POPQUEUE_TESTS_CONFIG_CLI_HARNESS_H_
