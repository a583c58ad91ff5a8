// Locks and rate limits across processes (coord_helper) on the real
// servers: never two lock holders at once, tokens increasing in holding
// order, and three processes together taking at the configured rate.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "coord_conformance.h"
#include "process_util.h"

namespace popqueue::coord::testing {
namespace {

struct Holding {
  int64_t token, start, end;
  std::string owner;
};

std::vector<Backend> ServerBackends() {
  std::vector<Backend> b;
  auto open = [](const std::string& url, const std::string& ns) {
    return OpenCoordinator(url, ns);
  };
#if POPQUEUE_WITH_REDIS
  b.push_back({.name = "redis", .url_env = "POPQUEUE_TEST_REDIS_URL", .open = open});
  b.push_back(
      {.name = "redis_cluster", .url_env = "POPQUEUE_TEST_REDIS_CLUSTER_URL", .open = open});
#endif
#if POPQUEUE_WITH_MEMCACHED
  b.push_back({.name = "memcached", .url_env = "POPQUEUE_TEST_MEMCACHED_URL", .open = open});
#endif
  return b;
}

class MultiProcessTest : public CoordConformanceTest {};

TEST_P(MultiProcessTest, LockNeverHasTwoHolders) {
  constexpr int kProcesses = 3;
  constexpr int kThreads = 2;
  constexpr int kRounds = 20;
  const std::string log = TempPath(absl::StrCat(GetParam().name, "-lock.log"));
  std::remove(log.c_str());
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    pids.push_back(Spawn({POPQUEUE_COORD_HELPER, "lock", url_, ns_, absl::StrCat("proc", i),
                          absl::StrCat(kRounds), log},
                         TempPath(absl::StrCat("lock-out-", i))));
  }
  // Threads of this process contend too, each with its own connection.
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::shared_ptr<Coordinator> coord = Peer();
    threads.emplace_back([coord, t, &log] {
      int fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
      ASSERT_GE(fd, 0);
      const std::string me = absl::StrCat("thread", t);
      for (int i = 0; i < kRounds;) {
        auto l = coord->LockAcquire({.name = "contended", .owner = me, .ttl = absl::Seconds(30)});
        ASSERT_TRUE(l.ok()) << l.status();
        if (!l->has_value()) {
          absl::SleepFor(absl::Microseconds(300));
          continue;
        }
        timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        absl::SleepFor(absl::Microseconds(200));
        clock_gettime(CLOCK_MONOTONIC, &b);
        std::string line =
            absl::StrCat((*l)->token, " ", int64_t{a.tv_sec} * 1000000000 + a.tv_nsec, " ",
                         int64_t{b.tv_sec} * 1000000000 + b.tv_nsec, " ", me, "\n");
        ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
        ASSERT_TRUE(coord->LockRelease(**l).ok());
        ++i;
      }
      close(fd);
    });
  }
  for (auto& th : threads) th.join();
  for (pid_t pid : pids) EXPECT_EQ(Wait(pid), 0);

  std::vector<Holding> holdings;
  for (absl::string_view line : absl::StrSplit(ReadFile(log), '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    ASSERT_EQ(f.size(), 4u) << line;
    Holding h;
    ASSERT_TRUE(absl::SimpleAtoi(f[0], &h.token) && absl::SimpleAtoi(f[1], &h.start) &&
                absl::SimpleAtoi(f[2], &h.end));
    h.owner = f[3];
    holdings.push_back(h);
  }
  ASSERT_EQ(holdings.size(), size_t{(kProcesses + kThreads) * kRounds});
  std::sort(holdings.begin(), holdings.end(),
            [](const Holding& a, const Holding& b) { return a.start < b.start; });
  for (size_t i = 1; i < holdings.size(); ++i) {
    const Holding& prev = holdings[i - 1];
    const Holding& cur = holdings[i];
    EXPECT_GE(cur.start, prev.end) << prev.owner << " and " << cur.owner << " held together";
    EXPECT_GT(cur.token, prev.token) << "token of " << cur.owner << " after " << prev.owner;
  }
  std::remove(log.c_str());
}

TEST_P(MultiProcessTest, RateLimitHoldsAcrossThreeProcesses) {
  constexpr int64_t kLimit = 200;  // per second
  constexpr int64_t kRunMs = 3000;
  // A common start a little ahead, so every process is up and connected.
  const int64_t start_ms = absl::ToUnixMillis(absl::Now()) + 700;
  std::vector<pid_t> pids;
  std::vector<std::string> outs;
  for (int i = 0; i < 3; ++i) {
    outs.push_back(TempPath(absl::StrCat(GetParam().name, "-rate-", i)));
    pids.push_back(Spawn({POPQUEUE_COORD_HELPER, "rate", url_, ns_, absl::StrCat(kLimit),
                          absl::StrCat(start_ms), absl::StrCat(kRunMs)},
                         outs.back()));
  }
  int64_t total = 0;
  std::vector<int64_t> each;
  for (size_t i = 0; i < pids.size(); ++i) {
    ASSERT_EQ(Wait(pids[i]), 0);
    int64_t n = 0;
    std::string out = ReadFile(outs[i]);
    ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &n)) << out;
    each.push_back(n);
    total += n;
    std::remove(outs[i].c_str());
  }
  const double rate = total / (kRunMs / 1000.0);
  std::printf(
      "[ measured ] %s: %lld granted in %lld ms = %.1f/s (limit %lld/s; per process "
      "%lld %lld %lld)\n",
      GetParam().name.c_str(), static_cast<long long>(total), static_cast<long long>(kRunMs), rate,
      static_cast<long long>(kLimit), static_cast<long long>(each[0]),
      static_cast<long long>(each[1]), static_cast<long long>(each[2]));
  EXPECT_GE(rate, kLimit * 0.9);
  EXPECT_LE(rate, kLimit * 1.1);
  for (int64_t n : each) EXPECT_GT(n, 0) << "a process was starved";
}

INSTANTIATE_TEST_SUITE_P(Servers, MultiProcessTest, ::testing::ValuesIn(ServerBackends()),
                         BackendName);

}  // namespace
}  // namespace popqueue::coord::testing
