// Mutex, the lock classes and Notification: absl::Mutex, made visible to
// ThreadSanitizer.
//
// Debian's Abseil is a shared library built without TSan, so TSan sees none
// of absl::Mutex's own synchronization: to TSan, two threads that take turns
// under one absl::Mutex race on everything it guards. In a TSan build (and
// only there) these classes tell TSan what the lock does: a lock after
// absl's Lock returns, an unlock before absl's Unlock starts, and a lock and
// unlock around every Condition, since absl evaluates a waiter's Condition on
// whichever thread holds the lock at the time (often the one unlocking). In
// every other build they are absl::Mutex with nothing added.
//
// Use these instead of absl::Mutex, absl::MutexLock and absl::Notification
// everywhere in pop-queue; absl::Condition is unchanged.
#pragma once

#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if defined(__SANITIZE_THREAD__)
#define POPQUEUE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define POPQUEUE_TSAN 1
#endif
#endif

#ifdef POPQUEUE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace popqueue {

// Debian builds Abseil without NDEBUG, so absl::Mutex runs its debug-build
// deadlock detector: every Lock() takes one process-wide spinlock to update a
// lock graph (two threads on two unrelated mutexes: 235 ns per lock+unlock
// instead of 28 ns). The first pop-queue Mutex turns it off for the process,
// which is Abseil's own default for an optimized build; a program that wants
// it calls absl::SetMutexDeadlockDetectionMode after that. TSan builds have
// TSan's deadlock detector instead.
inline void UseReleaseMutexChecks() {
  static const bool done = [] {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    return true;
  }();
  (void)done;
}

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() {
    UseReleaseMutexChecks();
#ifdef POPQUEUE_TSAN
    __tsan_mutex_create(this, 0);
#endif
  }
  ~Mutex() {
#ifdef POPQUEUE_TSAN
    __tsan_mutex_destroy(this, 0);
#endif
  }
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_.Lock();
    Locked(0);
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    Unlocking(0);
    mu_.Unlock();
  }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() {
    mu_.ReaderLock();
    Locked(kRead);
  }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() {
    Unlocking(kRead);
    mu_.ReaderUnlock();
  }

  // Unlocks, waits until `cond` holds, locks again (absl::Mutex::Await).
  void Await(const absl::Condition& cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Unlocking(0);
    WithAnnotated(cond, [&](const absl::Condition& c) { mu_.Await(c); });
    Locked(0);
  }
  // As Await, for at most `timeout`; true when `cond` holds.
  bool AwaitWithTimeout(const absl::Condition& cond, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Unlocking(0);
    bool held = WithAnnotated(
        cond, [&](const absl::Condition& c) { return mu_.AwaitWithTimeout(c, timeout); });
    Locked(0);
    return held;
  }
  bool AwaitWithDeadline(const absl::Condition& cond, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Unlocking(0);
    bool held = WithAnnotated(
        cond, [&](const absl::Condition& c) { return mu_.AwaitWithDeadline(c, deadline); });
    Locked(0);
    return held;
  }

  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() { mu_.AssertHeld(); }

 private:
  // Calls wait(condition) with `cond`; in a TSan build, wrapped so that its
  // evaluation, on whichever thread absl runs it, is seen under the lock.
  template <typename Wait>
  std::invoke_result_t<Wait, const absl::Condition&> WithAnnotated(const absl::Condition& cond,
                                                                   Wait wait) {
#ifdef POPQUEUE_TSAN
    Guarded guarded{this, &cond};  // lives as long as this wait
    return wait(absl::Condition(&EvalLocked, &guarded));
#else
    return wait(cond);
#endif
  }

#ifdef POPQUEUE_TSAN
  static constexpr unsigned kRead = __tsan_mutex_read_lock;
  struct Guarded {
    Mutex* mu;
    const absl::Condition* cond;
  };
  static bool EvalLocked(Guarded* g) {
    g->mu->Locked(0);
    bool held = g->cond->Eval();
    g->mu->Unlocking(0);
    return held;
  }
  void Locked(unsigned flags) {
    __tsan_mutex_pre_lock(this, flags);
    __tsan_mutex_post_lock(this, flags, 0);
  }
  void Unlocking(unsigned flags) {
    __tsan_mutex_pre_unlock(this, flags);
    __tsan_mutex_post_unlock(this, flags);
  }
#else
  static constexpr unsigned kRead = 0;
  static void Locked(unsigned) {}
  static void Unlocking(unsigned) {}
#endif

  absl::Mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

using WriterMutexLock = MutexLock;

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) { mu_->ReaderLock(); }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A one-shot event (absl::Notification).
class Notification {
 public:
  void Notify() {
    MutexLock lock(&mu_);
    notified_ = true;
  }
  bool HasBeenNotified() const {
    MutexLock lock(&mu_);
    return notified_;
  }
  void WaitForNotification() const {
    MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&notified_));
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&notified_), timeout);
  }

 private:
  mutable Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace popqueue
