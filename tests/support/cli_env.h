// The environment for a popqueue child process in tests: the caller's,
// without the variables popqueue reads (so a developer's DB_URL or
// POPQUEUE_TOKEN never changes what a test sees).
#ifndef POPQUEUE_TESTS_SUPPORT_CLI_ENV_H_
#define POPQUEUE_TESTS_SUPPORT_CLI_ENV_H_

#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

namespace popqueue::testing {

inline bool IsPopqueueVariable(std::string_view key) {
  return key == "DB_URL" || key == "REDIS_URL" || key == "MEMCACHED_URL" || key == "POSTGRES_URL" ||
         key == "WORKER_ID" || key == "WORKER_TIMEOUT" || key.rfind("POPQUEUE_", 0) == 0;
}

// "KEY=value" entries of environ, popqueue's own variables left out.
inline std::vector<std::string> EnvironmentWithoutPopqueue() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (!IsPopqueueVariable(kv.substr(0, kv.find('=')))) env.emplace_back(kv);
  }
  return env;
}

// argv/envp for posix_spawn or exec: pointers into `strings` (which must
// outlive them), null-terminated.
inline std::vector<char*> NullTerminated(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_CLI_ENV_H_
