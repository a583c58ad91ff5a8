#include "common/mutex.h"

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace popqueue {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);

// Every waiter waits on the same mutex for a condition of its own; absl may
// evaluate any waiter's condition on the thread that unlocks. Each must wake
// for its own turn, not for another waiter's.
TEST(MutexTest, ManyWaitersEachWakeForTheirOwnCondition) {
  constexpr int kWaiters = 8;
  Mutex mu;
  int turn = -1;          // guarded by mu
  std::vector<int> woke;  // guarded by mu
  struct Arg {
    const int* turn;
    int mine;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      Arg arg{&turn, i};
      MutexLock lock(&mu);
      bool mine = mu.AwaitWithTimeout(absl::Condition(
                                          +[](Arg* a) { return *a->turn == a->mine; }, &arg),
                                      kPatience);
      woke.push_back(mine ? i : -1 - i);
    });
  }
  for (int i = 0; i < kWaiters; ++i) {
    MutexLock lock(&mu);
    turn = i;
    // The next turn only once waiter i has taken this one.
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                        +[](std::vector<int>* w) { return !w->empty(); }, &woke),
                                    kPatience));
    ASSERT_EQ(woke.back(), i);
    woke.clear();
  }
  for (std::thread& t : threads) t.join();
}

// A handoff through a condition that the consumer's Await evaluates and the
// producer's Unlock re-evaluates: the data written under the lock is seen.
TEST(MutexTest, HandsDataFromProducerToConsumer) {
  Mutex mu;
  struct Shared {
    std::vector<int> items;  // guarded by mu
    bool done = false;       // guarded by mu
  } shared;
  int sum = 0;
  std::thread consumer([&] {
    MutexLock lock(&mu);
    while (true) {
      mu.Await(absl::Condition(
          +[](Shared* s) { return !s->items.empty() || s->done; }, &shared));
      for (int v : shared.items) sum += v;
      shared.items.clear();
      if (shared.done) return;
    }
  });
  for (int i = 1; i <= 1000; ++i) {
    MutexLock lock(&mu);
    shared.items.push_back(i);
  }
  {
    MutexLock lock(&mu);
    shared.done = true;
  }
  consumer.join();
  EXPECT_EQ(sum, 1000 * 1001 / 2);
}

TEST(MutexTest, AwaitTimesOutWhenTheConditionNeverHolds) {
  Mutex mu;
  bool never = false;
  MutexLock lock(&mu);
  absl::Time start = absl::Now();
  EXPECT_FALSE(mu.AwaitWithTimeout(absl::Condition(&never), absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_FALSE(mu.AwaitWithDeadline(absl::Condition(&never), absl::Now() + absl::Milliseconds(10)));
  bool always = true;
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&always), absl::ZeroDuration()));
}

TEST(MutexTest, ReadersShareAndAWriterExcludesThem) {
  Mutex mu;
  int value = 0;  // guarded by mu
  {
    ReaderMutexLock first(&mu);
    Notification second_reader_in;
    std::thread reader([&] {
      ReaderMutexLock second(&mu);  // does not wait for `first`
      EXPECT_EQ(value, 0);
      second_reader_in.Notify();
    });
    EXPECT_TRUE(second_reader_in.WaitForNotificationWithTimeout(kPatience));
    reader.join();
  }
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&] {
      for (int n = 0; n < 1000; ++n) {
        WriterMutexLock lock(&mu);
        ++value;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  ReaderMutexLock lock(&mu);
  EXPECT_EQ(value, 4000);
}

// Debian's Abseil is a debug build, whose deadlock detector (one
// process-wide spinlock per Lock) aborts the program at the inverted lock
// order below. The first pop-queue Mutex turns it off (mutex.h).
TEST(MutexTest, AbseilDebugDeadlockDetectorIsOff) {
  Mutex ours;
  absl::Mutex a, b;
  {
    absl::MutexLock first(&a);
    absl::MutexLock second(&b);
  }
  {
    absl::MutexLock first(&b);
    absl::MutexLock second(&a);
  }
}

TEST(NotificationTest, WaitsUntilNotified) {
  Notification n;
  EXPECT_FALSE(n.HasBeenNotified());
  EXPECT_FALSE(n.WaitForNotificationWithTimeout(absl::Milliseconds(10)));
  int payload = 0;
  std::thread notifier([&] {
    payload = 42;  // published by Notify
    n.Notify();
  });
  n.WaitForNotification();
  EXPECT_EQ(payload, 42);
  EXPECT_TRUE(n.HasBeenNotified());
  EXPECT_TRUE(n.WaitForNotificationWithTimeout(absl::ZeroDuration()));
  notifier.join();
}

#ifdef POPQUEUE_TSAN
// Two threads take the lock, then each writes `unguarded` outside it, twice.
// The relaxed counter makes the writes overlap in time without ordering them
// (TSan sees no synchronization in relaxed atomics): the thread that locked
// first has not seen the other's unlock, so its second write races with the
// other's first whatever the schedule.
[[noreturn]] void RaceOutsideTheLock() {
  Mutex mu;
  int unguarded = 0;
  std::atomic<int> arrived{0};
  auto meet = [&](int n) {
    arrived.fetch_add(1, std::memory_order_relaxed);
    while (arrived.load(std::memory_order_relaxed) < n) std::this_thread::yield();
  };
  auto racer = [&](int v) {
    { MutexLock lock(&mu); }
    meet(2);
    unguarded = v;
    meet(4);
    unguarded = v;
  };
  std::thread a(racer, 1);
  std::thread b(racer, 2);
  a.join();
  b.join();
  std::exit(unguarded == 0 ? 1 : 0);
}

// Two locks taken in both orders, one after the other (no actual deadlock).
[[noreturn]] void InvertLockOrder() {
  Mutex a, b;
  {
    MutexLock first(&a);
    MutexLock second(&b);
  }
  {
    MutexLock first(&b);
    MutexLock second(&a);
  }
  std::exit(0);
}

// With Abseil's own detector off, TSan's sees pop-queue's locks through the
// annotations and reports a lock-order inversion.
TEST(MutexTsanTest, LockOrderInversionIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(InvertLockOrder(), testing::ExitedWithCode(66),
              "ThreadSanitizer: lock-order-inversion");
}

// The annotations order what happens under the lock, nothing more: a write
// made outside it still races, although both threads take the lock. This
// also checks that the TSan build reports at all.
TEST(MutexTsanTest, AWriteOutsideTheLockIsStillARace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(RaceOutsideTheLock(), testing::ExitedWithCode(66), "ThreadSanitizer: data race");
}
#endif

}  // namespace
}  // namespace popqueue
