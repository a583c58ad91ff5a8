// Time-ordered job ids.
//
// An id is a positive int64: 41 bits of milliseconds since 2024-01-01 UTC
// (good until 2093), 10 bits chosen at random per generator, and a 12-bit
// sequence within the millisecond. Ids from one generator strictly increase;
// ids from different processes sort by creation time to the millisecond.
// When a generator issues more than 4096 ids in one millisecond it borrows
// the next millisecond, so it never blocks. Two processes that drew the same
// 10 random bits could produce the same id: stores refuse a duplicate primary
// key with kAlreadyExists and the caller draws new ids (see Queue::Impl).
#ifndef POPQUEUE_COMMON_IDS_H_
#define POPQUEUE_COMMON_IDS_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "popqueue/job.h"

namespace popqueue {

class IdGenerator {
 public:
  IdGenerator();
  // Thread-safe.
  JobId Next(absl::Time now);
  // Picks new random node bits (after a collision).
  void Reseed();

  // The creation time encoded in an id.
  static absl::Time TimeOf(JobId id);

 private:
  Mutex mu_;
  int64_t node_ ABSL_GUARDED_BY(mu_);
  int64_t last_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
};

// The smallest id of the millisecond after `t`: ids issued at or before `t`
// are below it (but for a generator's burst of more than 4096 ids in one
// millisecond, which runs a few ms ahead). Stores bound walks by creation
// time with it: a job cannot finish before it was created.
JobId FirstIdAfter(absl::Time t);

// A random non-zero int64 for lease tokens.
int64_t RandomToken();

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_IDS_H_
