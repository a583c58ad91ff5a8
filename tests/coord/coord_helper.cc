// One process of the multi-process coordinator tests.
//
//   coord_helper lock <url> <ns> <owner> <rounds> <log>
//     Takes the lock "contended" <rounds> times; for each holding appends
//     "<token> <start_ns> <end_ns> <owner>\n" (CLOCK_MONOTONIC, shared by
//     all processes of the machine) to <log> with one O_APPEND write.
//   coord_helper rate <url> <ns> <limit> <start_unix_ms> <run_ms>
//     From <start_unix_ms>, takes from "job:myJob" (<limit> per second) as
//     fast as it is allowed for <run_ms>; prints the number granted.
//
// Exits 0 on success, 2 with a message on stderr otherwise.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coord/coordinator.h"

namespace {

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "coord_helper: %s\n", what.c_str());
  return 2;
}

int64_t Int(const char* s) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) {
    std::fprintf(stderr, "coord_helper: not an integer: %s\n", s);
    std::exit(2);
  }
  return v;
}

int Lock(popqueue::coord::Coordinator& c, const std::string& owner, int64_t rounds,
         const std::string& log_path) {
  int fd = open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return Fail("cannot open " + log_path);
  for (int64_t i = 0; i < rounds;) {
    auto l = c.LockAcquire({.name = "contended", .owner = owner, .ttl = absl::Seconds(30)});
    if (!l.ok()) return Fail(std::string(l.status().message()));
    if (!l->has_value()) {
      absl::SleepFor(absl::Microseconds(300));  // held elsewhere: poll
      continue;
    }
    int64_t start = MonoNs();
    absl::SleepFor(absl::Microseconds(200));  // "work" under the lock
    int64_t end = MonoNs();
    std::string line = absl::StrCat((*l)->token, " ", start, " ", end, " ", owner, "\n");
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return Fail("short write to " + log_path);
    }
    if (absl::Status s = c.LockRelease(**l); !s.ok()) return Fail(std::string(s.message()));
    ++i;
  }
  close(fd);
  return 0;
}

int Rate(popqueue::coord::Coordinator& c, int64_t limit, int64_t start_ms, int64_t run_ms) {
  const absl::Time start = absl::FromUnixMillis(start_ms);
  const absl::Time end = start + absl::Milliseconds(run_ms);
  absl::SleepFor(start - absl::Now());
  int64_t granted = 0;
  while (absl::Now() < end) {
    auto r = c.RateLimitTake(
        {.key = "job:myJob", .limit = limit, .period = absl::Seconds(1), .cost = 1});
    if (!r.ok()) return Fail(std::string(r.status().message()));
    if (r->allowed) {
      ++granted;
    } else {
      absl::SleepFor(std::min(r->retry_after, end - absl::Now()));
    }
  }
  std::printf("%lld\n", static_cast<long long>(granted));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Fail("usage: coord_helper lock|rate <url> <ns> ...");
  const std::string mode = argv[1];
  auto c = popqueue::coord::OpenCoordinator(argv[2], argv[3]);
  if (!c.ok()) return Fail(std::string(c.status().message()));
  if (mode == "lock" && argc == 7) return Lock(**c, argv[4], Int(argv[5]), argv[6]);
  if (mode == "rate" && argc == 7) return Rate(**c, Int(argv[4]), Int(argv[5]), Int(argv[6]));
  return Fail("bad arguments");
}
