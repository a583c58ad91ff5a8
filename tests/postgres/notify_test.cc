// LISTEN/NOTIFY wake-ups: delivered within milliseconds, one per insert
// batch and queue.
#include <atomic>
#include <map>

#include "common/mutex.h"
#include "gtest/gtest.h"
#include "pg_test_env.h"
#include "store/postgres/sql_catalog.h"

namespace popqueue::testing {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// Counts notifications per payload through the store's Subscribe.
class Recorder {
 public:
  void On(const std::string& queue) {
    MutexLock lock(&mu_);
    if (!any_) first_at_ = absl::Now();
    any_ = true;
    ++counts_[queue];
  }
  // Waits (signalled, bounded) until `queue` was seen `n` times.
  bool WaitFor(const std::string& queue, int n, absl::Duration timeout) {
    MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return counts_[queue] >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  }
  int Count(const std::string& queue) {
    MutexLock lock(&mu_);
    return counts_[queue];
  }
  absl::Time first_at() {
    MutexLock lock(&mu_);
    return first_at_;
  }

 private:
  Mutex mu_;
  std::map<std::string, int> counts_ ABSL_GUARDED_BY(mu_);
  absl::Time first_at_ ABSL_GUARDED_BY(mu_);
  bool any_ ABSL_GUARDED_BY(mu_) = false;
};

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    POPQUEUE_REQUIRE_POSTGRES();
    auto s = OpenTestStore(UniqueCollection("ntf"));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *s;
    ASSERT_TRUE(store_->SupportsNotify());
    auto h = store_->Subscribe([this](const std::string& q) { rec_.On(q); });
    ASSERT_TRUE(h.ok());
    handle_ = *h;
  }
  void TearDown() override {
    if (store_) store_->Unsubscribe(handle_);
  }

  // Sends a sentinel after everything else: notifications arrive in commit
  // order, so once it is seen every earlier one has been delivered.
  void Flush() {
    RawConn c = RawConnect();
    Column(c.get(),
           absl::StrCat("SELECT pg_notify('", store_->catalog().channel(), "', '~sentinel')"));
    ASSERT_TRUE(rec_.WaitFor("~sentinel", 1, absl::Seconds(5)));
  }

  Recorder rec_;
  std::shared_ptr<store::postgres::PostgresStore> store_;
  int handle_ = 0;
};

TEST_F(NotifyTest, WakesWithinMilliseconds) {
  absl::Time start = absl::Now();
  ASSERT_TRUE(store_->JobInsertMany({.jobs = {MakeJob(1)}, .now = kNow}).ok());
  ASSERT_TRUE(rec_.WaitFor("default", 1, absl::Seconds(5)));
  absl::Duration latency = rec_.first_at() - start;
  std::cout << "insert-to-notification latency: " << latency << "\n";
  EXPECT_LT(latency, absl::Milliseconds(50));
}

TEST_F(NotifyTest, OneNotificationPerBatchAndQueue) {
  std::vector<store::NewJob> jobs;
  for (int i = 1; i <= 1000; ++i) jobs.push_back(MakeJob(i, i % 2 ? "a" : "b"));
  jobs.push_back(MakeJob(5000, "later", "", kNow + absl::Hours(1)));
  ASSERT_TRUE(store_->JobInsertMany({.jobs = jobs, .now = kNow}).ok());
  Flush();
  EXPECT_EQ(rec_.Count("a"), 1);
  EXPECT_EQ(rec_.Count("b"), 1);
  EXPECT_EQ(rec_.Count("later"), 0);  // scheduled jobs wake no one
}

TEST_F(NotifyTest, RequeueNotifies) {
  ASSERT_TRUE(store_->JobInsertMany({.jobs = {MakeJob(1, "r")}, .now = kNow}).ok());
  ASSERT_TRUE(store_->JobCancel({.id = 1, .now = kNow}).ok());
  ASSERT_TRUE(store_->JobRequeue({.id = 1, .now = kNow}).ok());
  ASSERT_TRUE(rec_.WaitFor("r", 2, absl::Seconds(5)));
}

}  // namespace
}  // namespace popqueue::testing
