// Helpers shared by the tests: a temporary folder, polling for a condition.
#ifndef POPQUEUE_TESTS_SUPPORT_TEST_UTIL_H_
#define POPQUEUE_TESTS_SUPPORT_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"  // FakeClock

namespace popqueue::testing {

// A fresh temporary directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string SqliteUrl(const std::string& file = "q.db") const {
    return "sqlite://" + path_ + "/" + file;
  }

 private:
  std::string path_;
};

// Polls `condition` every 5 ms until it holds or `timeout` passes. For
// conditions in another process or the store, which cannot signal us.
inline bool Eventually(const std::function<bool()>& condition,
                       absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_TEST_UTIL_H_
