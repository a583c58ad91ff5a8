// Claiming ahead (core/runtime.h), on every backend compiled in: short jobs
// are claimed in few, large claims; long jobs only for free slots; jobs
// waiting ahead at shutdown are released and run once later. On SQLite,
// whose claims all wait for one write lock, nothing is claimed ahead.
//
// Every claim gives its jobs one lease token, so the distinct tokens the
// handlers see count the claims, and the jobs per token their sizes.
// Server backends read their URL from POPQUEUE_TEST_<BACKEND>_URL (set by
// scripts/test); without it they skip, or fail under CI=true.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "gtest/gtest.h"
#include "popqueue/queue.h"
#include "tests/support/store_backends.h"
#include "tests/support/test_util.h"

namespace popqueue {
namespace {

using Backend = testing::StoreBackend;

struct ClaimCounter {
  Mutex mu;
  std::map<int64_t, int> jobs_by_token ABSL_GUARDED_BY(mu);
  std::map<std::string, int> runs ABSL_GUARDED_BY(mu);
  void Record(const Job& job) {
    MutexLock lock(&mu);
    ++jobs_by_token[job.lease_token];
    ++runs[job.data];
  }
  int Largest() {
    MutexLock lock(&mu);
    int largest = 0;
    for (const auto& [token, n] : jobs_by_token) largest = std::max(largest, n);
    return largest;
  }
};

class PrefetchTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const Backend& b = GetParam();
    if (b.url_env.empty()) {
      url_ = tmp_.SqliteUrl("prefetch.db");
      return;
    }
    const char* url = std::getenv(b.url_env.c_str());
    if (url == nullptr || *url == '\0') {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") {
        GTEST_FAIL() << b.url_env << " is not set (CI=true): run through scripts/test";
      }
      GTEST_SKIP() << b.url_env << " is not set: run through scripts/test or scripts/with-services";
    }
    url_ = url;
  }

  QueueConfig Config(int concurrency, int prefetch) {
    QueueConfig c{.db_url = url_,
                  .db_name = GetParam().db_name,
                  .collection = absl::StrCat("prefetch_", RandomToken() & 0xffffff),
                  .retries = 3};
    c.worker.poll_interval = absl::Milliseconds(20);
    c.worker.handle_signals = false;
    c.worker.shutdown_deadline = absl::Seconds(5);
    c.worker.default_concurrency = concurrency;
    c.worker.max_prefetch = prefetch;
    return c;
  }

  static void EnqueueNumbered(Queue& queue, const std::string& name, int n) {
    for (int done = 0; done < n; done += 1000) {
      std::vector<EnqueueRequest> batch;
      for (int i = done; i < std::min(n, done + 1000); ++i) {
        batch.push_back({.name = name, .data = std::to_string(i)});
      }
      ASSERT_TRUE(queue.EnqueueMany(batch).ok());
    }
  }

  // Waits until `n` jobs completed (polling the store).
  static bool WaitCompleted(Queue& queue, int n, absl::Duration timeout) {
    absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      auto counts = queue.CountByState();
      int64_t done = 0;
      if (counts.ok()) {
        for (const auto& q : *counts) {
          auto it = q.by_state.find(JobState::kCompleted);
          if (it != q.by_state.end()) done += it->second;
        }
      }
      if (done >= n) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  bool serializes() const { return GetParam().name == "sqlite"; }

  testing::TempDir tmp_;
  std::string url_;
};

TEST_P(PrefetchTest, ShortJobsAreClaimedAheadInFewClaims) {
  constexpr int kJobs = 3000;
  constexpr int kPrefetch = 50;
  Queue queue(Config(/*concurrency=*/2, kPrefetch));
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  ClaimCounter claims;
  ASSERT_TRUE(queue
                  .Define("short",
                          [&](const Job& job) {
                            claims.Record(job);
                            return true;
                          })
                  .ok());
  EnqueueNumbered(queue, "short", kJobs);
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(WaitCompleted(queue, kJobs, absl::Seconds(120)));
  queue.Stop();
  MutexLock lock(&claims.mu);
  ASSERT_EQ(claims.runs.size(), static_cast<size_t>(kJobs));
  for (const auto& [data, n] : claims.runs) EXPECT_EQ(n, 1) << data;
  int largest = 0;
  for (const auto& [token, n] : claims.jobs_by_token) largest = std::max(largest, n);
  if (serializes()) {
    // One write lock for every claim: only free slots are claimed.
    EXPECT_LE(largest, 2);
    EXPECT_GE(claims.jobs_by_token.size(), static_cast<size_t>(kJobs / 2));
  } else {
    // No-op handlers finish far faster than a claim: claims fill the two
    // slots and up to kPrefetch ahead.
    EXPECT_LE(largest, 2 + kPrefetch);
    EXPECT_LT(claims.jobs_by_token.size(), static_cast<size_t>(kJobs / 4));
  }
}

TEST_P(PrefetchTest, NothingIsClaimedAheadWithMaxPrefetchZero) {
  constexpr int kJobs = 600;
  Queue queue(Config(/*concurrency=*/2, /*prefetch=*/0));
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  ClaimCounter claims;
  ASSERT_TRUE(queue
                  .Define("short",
                          [&](const Job& job) {
                            claims.Record(job);
                            return true;
                          })
                  .ok());
  EnqueueNumbered(queue, "short", kJobs);
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(WaitCompleted(queue, kJobs, absl::Seconds(120)));
  queue.Stop();
  EXPECT_LE(claims.Largest(), 2);
}

TEST_P(PrefetchTest, LongJobsAreNotClaimedAhead) {
  Queue queue(Config(/*concurrency=*/2, /*prefetch=*/50));
  ASSERT_TRUE(queue.status().ok()) << queue.status();
  ClaimCounter claims;
  ASSERT_TRUE(queue
                  .Define("long",
                          [&](const Job& job) {
                            claims.Record(job);
                            absl::SleepFor(absl::Milliseconds(200));  // far longer than two claims
                            return true;
                          })
                  .ok());
  EnqueueNumbered(queue, "long", 8);
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(WaitCompleted(queue, 8, absl::Seconds(60)));
  queue.Stop();
  // Every claim took only what the free slots could start, so the other
  // jobs stayed available to other workers meanwhile.
  EXPECT_LE(claims.Largest(), 2);
}

TEST_P(PrefetchTest, JobsClaimedAheadAreReleasedAtShutdownAndRunOnceLater) {
  if (serializes()) GTEST_SKIP() << "nothing is claimed ahead on SQLite";
  constexpr int kJobs = 3000;
  QueueConfig config = Config(/*concurrency=*/1, /*prefetch=*/200);
  ClaimCounter claims;
  int released = 0;
  {
    Queue queue(config);
    ASSERT_TRUE(queue.status().ok()) << queue.status();
    Mutex mu;
    int completed = 0;
    ASSERT_TRUE(queue
                    .Define("j",
                            [&](const Job& job) {
                              claims.Record(job);
                              return true;
                            })
                    .ok());
    ASSERT_TRUE(queue
                    .OnEvent([&](const JobEvent& e) {
                      MutexLock lock(&mu);
                      if (e.kind == JobEvent::Kind::kCompleted) ++completed;
                      if (e.kind == JobEvent::Kind::kReleased) ++released;
                    })
                    .ok());
    EnqueueNumbered(queue, "j", kJobs);
    ASSERT_TRUE(queue.StartInBackground().ok());
    {
      MutexLock lock(&mu);
      auto some = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return completed >= 300; };
      ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&some), absl::Seconds(60)));
    }
    queue.Stop();
    // Nothing stays running under the stopped worker's lease.
    auto counts = queue.CountByState();
    ASSERT_TRUE(counts.ok());
    for (const auto& q : *counts) {
      auto it = q.by_state.find(JobState::kRunning);
      EXPECT_TRUE(it == q.by_state.end() || it->second == 0) << it->second << " running";
    }
  }
  {
    MutexLock lock(&claims.mu);
    EXPECT_LT(claims.runs.size(), static_cast<size_t>(kJobs)) << "the first worker ran them all";
  }
  EXPECT_GT(released, 0) << "no job was waiting ahead at shutdown";
  Queue queue(config);
  ASSERT_TRUE(queue
                  .Define("j",
                          [&](const Job& job) {
                            claims.Record(job);
                            return true;
                          })
                  .ok());
  ASSERT_TRUE(queue.StartInBackground().ok());
  ASSERT_TRUE(WaitCompleted(queue, kJobs, absl::Seconds(120)));
  queue.Stop();
  MutexLock lock(&claims.mu);
  // Released jobs never ran in the first worker: each job ran once in all.
  ASSERT_EQ(claims.runs.size(), static_cast<size_t>(kJobs));
  for (const auto& [data, n] : claims.runs) EXPECT_EQ(n, 1) << data;
}

INSTANTIATE_TEST_SUITE_P(Backends, PrefetchTest,
                         ::testing::ValuesIn(testing::CompiledStoreBackends()),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace popqueue
