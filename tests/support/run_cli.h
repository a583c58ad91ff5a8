// Runs the real `popqueue` binary to completion for the CLI tests: stdin
// from a string, stdout and stderr captured through files in a folder of the
// test's, the caller's environment without the variables popqueue reads
// (cli_env.h) plus the test's own, killed after a timeout. For a popqueue
// that keeps running (serve, worker) see tests/config/cli_harness.h.
#ifndef POPQUEUE_TESTS_SUPPORT_RUN_CLI_H_
#define POPQUEUE_TESTS_SUPPORT_RUN_CLI_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/cli_env.h"

namespace popqueue::testing {

struct CliResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `binary` with `args`; `extra_env` holds "KEY=value" entries. The
// files stdin, stdout and stderr are written in `dir`.
inline CliResult RunCli(const std::string& binary, const std::vector<std::string>& args,
                        const std::string& dir, const std::string& stdin_data = "",
                        const std::vector<std::string>& extra_env = {},
                        std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const std::string in_path = dir + "/stdin", out_path = dir + "/stdout",
                    err_path = dir + "/stderr";
  std::ofstream(in_path, std::ios::binary) << stdin_data;

  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv = NullTerminated(argv_s);
  std::vector<std::string> env_s = EnvironmentWithoutPopqueue();
  env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp = NullTerminated(env_s);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  CliResult r;
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << binary << ": " << std::strerror(rc);
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "popqueue " << ::testing::PrintToString(args) << " did not finish in "
                    << timeout.count() << " s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadWholeFile(out_path);
  r.err = ReadWholeFile(err_path);
  return r;
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_RUN_CLI_H_
