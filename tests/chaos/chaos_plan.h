// The chaos run's plan: what each job's handler decides, derived only from
// the job's index, so that the worker (which acts on it) and the checker
// (which verifies the outcome) agree without sharing any state.
//
//   ok     completes at once                          -> completed
//   slow   sleeps 100-1000 ms, then completes         -> completed
//   flaky  fails its first attempt, then completes    -> completed
//   fail   fails every attempt                        -> dead
#ifndef POPQUEUE_TESTS_CHAOS_CHAOS_PLAN_H_
#define POPQUEUE_TESTS_CHAOS_CHAOS_PLAN_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace popqueue::chaos {

inline constexpr char kJobName[] = "chaos";
inline constexpr int kMaxAttempts = 4;

enum class Kind { kOk, kSlow, kFlaky, kFail };

inline Kind KindOf(int64_t index) {
  // A multiplicative hash spreads the kinds over the queue's order.
  uint64_t h = static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ull;
  int bucket = static_cast<int>((h >> 32) % 100);
  if (bucket < 3) return Kind::kSlow;
  if (bucket < 8) return Kind::kFail;
  if (bucket < 13) return Kind::kFlaky;
  return Kind::kOk;
}

inline int SlowMillis(int64_t index) { return 100 + static_cast<int>((index * 37) % 900); }

inline std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kOk: return "ok";
    case Kind::kSlow: return "slow";
    case Kind::kFlaky: return "flaky";
    case Kind::kFail: return "fail";
  }
  return "?";
}

// The final state the handler decides.
inline bool ExpectCompleted(Kind kind) { return kind != Kind::kFail; }

// The most handler runs the plan needs when no process dies.
inline int PlannedRuns(Kind kind) {
  switch (kind) {
    case Kind::kFlaky: return 2;
    case Kind::kFail: return kMaxAttempts;
    default: return 1;
  }
}

// The payload and identifier of job `index`; the payload holds the index.
inline std::string Payload(int64_t index) {
  return "{\"i\":" + std::to_string(index) + ",\"kind\":\"" + std::string(KindName(KindOf(index))) +
         "\"}";
}
inline std::string Identifier(int64_t index) { return "chaos-" + std::to_string(index); }

// The index in a payload made by Payload(); -1 when there is none.
inline int64_t IndexOf(std::string_view payload) {
  constexpr std::string_view kKey = "{\"i\":";
  if (payload.substr(0, kKey.size()) != kKey) return -1;
  int64_t n = 0;
  size_t i = kKey.size();
  if (i >= payload.size() || payload[i] < '0' || payload[i] > '9') return -1;
  for (; i < payload.size() && payload[i] >= '0' && payload[i] <= '9'; ++i) {
    n = n * 10 + (payload[i] - '0');
  }
  return n;
}

}  // namespace popqueue::chaos

#endif  // POPQUEUE_TESTS_CHAOS_CHAOS_PLAN_H_
