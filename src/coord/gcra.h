// The rate-limit algorithm every coordinator applies: GCRA (generic cell
// rate algorithm) without burst, i.e. a leaky bucket used as a meter.
//
// For `limit` takes per `period` the emission interval is T = period/limit.
// The state is one time per key, the theoretical arrival time (TAT). A take
// of cost c is allowed iff TAT <= now; it then moves TAT to base + c*T, where
// base is TAT when the caller is less than one interval late (now - TAT < T)
// and now otherwise (the bucket was idle). A refusal changes nothing and
// says how long until TAT: retry_after.
//
// What that guarantees: over any stretch of time, `limit` per `period`
// exactly (a caller that sleeps retry_after and comes back a little late
// keeps its slot), and at most limit + 1 takes in any window of one period
// (the +1 is that forgiven lateness). Takes are spread evenly: 100 per
// second = one per 10 ms.
//
// Why no burst: a bucket that starts full grants `limit` at once, so a
// 3-second measurement would see 4/3 of the limit, and "at most 100 per
// second" would let 200 through in the second around a window's start.
//
// The Redis coordinator runs the same arithmetic in Lua (rate_limit_take.lua)
// on Redis TIME; the local and memcached ones call GcraTake.
#ifndef POPQUEUE_COORD_GCRA_H_
#define POPQUEUE_COORD_GCRA_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coord/coordinator.h"

namespace popqueue::coord {

// kInvalidArgument naming the bad field: key empty or > 200 bytes, limit < 1,
// period <= 0, cost < 1 or cost > limit.
absl::Status ValidateRateLimit(const RateLimitTakeParams& params);

struct GcraStep {
  RateLimitDecision decision;
  absl::Time new_tat;  // to store when allowed (unchanged when refused)
};

// One take against the stored TAT (nullopt: no state, the bucket is idle).
GcraStep GcraTake(std::optional<absl::Time> tat, absl::Time now, const RateLimitTakeParams& params);

// How long state must outlive `tat` to be meaningful: after TAT passed the
// bucket is idle and the key may expire.
absl::Duration GcraStateTtl(absl::Time new_tat, absl::Time now);

}  // namespace popqueue::coord

#endif  // POPQUEUE_COORD_GCRA_H_
