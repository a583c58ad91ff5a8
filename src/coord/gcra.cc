#include "coord/gcra.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace popqueue::coord {

absl::Status ValidateRateLimit(const RateLimitTakeParams& p) {
  if (p.key.empty() || p.key.size() > 200) {
    return absl::InvalidArgumentError("rate limit key: must be 1-200 bytes");
  }
  if (p.limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rate limit \"%s\": limit must be >= 1, got %d", p.key, p.limit));
  }
  if (p.period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rate limit \"%s\": period must be positive", p.key));
  }
  if (p.cost < 1 || p.cost > p.limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rate limit \"%s\": cost must be 1-%d (the limit), got %d", p.key, p.limit, p.cost));
  }
  return absl::OkStatus();
}

GcraStep GcraTake(std::optional<absl::Time> tat, absl::Time now, const RateLimitTakeParams& p) {
  const absl::Duration interval = p.period / p.limit;
  if (tat.has_value() && *tat > now) {
    return GcraStep{.decision = {.allowed = false, .retry_after = *tat - now}, .new_tat = *tat};
  }
  // A caller back less than one interval after its TAT (sleep overshoot,
  // round trips) keeps its slot: counting from `now` instead would lose that
  // lateness on every take and run measurably below the limit.
  absl::Time base = tat.has_value() && now - *tat < interval ? *tat : now;
  return GcraStep{.decision = {.allowed = true}, .new_tat = base + interval * p.cost};
}

absl::Duration GcraStateTtl(absl::Time new_tat, absl::Time now) {
  return std::max(new_tat - now, absl::ZeroDuration()) + absl::Seconds(1);
}

}  // namespace popqueue::coord
