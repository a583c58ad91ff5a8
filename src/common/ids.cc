#include "common/ids.h"

#include <algorithm>
#include <limits>
#include <random>

namespace popqueue {
namespace {

constexpr int64_t kEpochMs = 1704067200000;  // 2024-01-01T00:00:00Z
constexpr int kSeqBits = 12;
constexpr int kNodeBits = 10;

int64_t RandomBits(int bits) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<int64_t>(rng() & ((uint64_t{1} << bits) - 1));
}

}  // namespace

IdGenerator::IdGenerator() : node_(RandomBits(kNodeBits)) {}

void IdGenerator::Reseed() {
  MutexLock lock(&mu_);
  node_ = RandomBits(kNodeBits);
}

JobId IdGenerator::Next(absl::Time now) {
  MutexLock lock(&mu_);
  int64_t ms = absl::ToUnixMillis(now) - kEpochMs;
  if (ms < 0) ms = 0;
  if (ms > last_ms_) {
    last_ms_ = ms;
    seq_ = 0;
  } else if (++seq_ >= (int64_t{1} << kSeqBits)) {
    ++last_ms_;  // borrow the next millisecond
    seq_ = 0;
  }
  return (last_ms_ << (kNodeBits + kSeqBits)) | (node_ << kSeqBits) | seq_;
}

absl::Time IdGenerator::TimeOf(JobId id) {
  return absl::FromUnixMillis((id >> (kNodeBits + kSeqBits)) + kEpochMs);
}

JobId FirstIdAfter(absl::Time t) {
  // Ids carry the millisecond they were issued at (clamped to the epoch),
  // except when a generator issued more than 4096 in one millisecond and
  // borrowed later ones: such ids run a few ms ahead of the clock, and a
  // bounded walk sees them a little later, never earlier.
  int64_t ms = std::max<int64_t>(0, absl::ToUnixMillis(t) - kEpochMs);
  constexpr int64_t kMaxMs = (int64_t{1} << (63 - kNodeBits - kSeqBits)) - 1;
  if (ms >= kMaxMs) return std::numeric_limits<JobId>::max();
  return (ms + 1) << (kNodeBits + kSeqBits);
}

int64_t RandomToken() {
  int64_t t = 0;
  while (t == 0) t = RandomBits(62);
  return t;
}

}  // namespace popqueue
