// The handler outcomes of popqueue/outcome.h: statuses marked by a payload
// under kPayloadUrl whose value names the outcome ("snooze <microseconds>",
// "discard", "fail_without_retry"). The code must match too, so a payload
// copied onto an unrelated status is not mistaken for an outcome.
#include "popqueue/outcome.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace popqueue {
namespace {

constexpr char kPayloadUrl[] = "type.popqueue.dev/popqueue.HandlerOutcome";
constexpr char kSnoozePrefix[] = "snooze ";
constexpr absl::Duration kMaxSnooze = absl::Hours(24 * 366);

absl::Status Marked(absl::Status status, const std::string& value) {
  status.SetPayload(kPayloadUrl, absl::Cord(value));
  return status;
}

}  // namespace

absl::Status Snooze(absl::Duration delay) {
  delay = std::clamp(delay, absl::ZeroDuration(), kMaxSnooze);
  const int64_t us = absl::ToInt64Microseconds(delay);
  return Marked(
      absl::UnavailableError(absl::StrFormat("snoozed for %s", absl::FormatDuration(delay))),
      absl::StrCat(kSnoozePrefix, us));
}

absl::Status Discard(std::string_view reason) {
  std::string message =
      reason.empty() ? "discarded" : absl::StrCat("discarded: ", std::string(reason));
  return Marked(absl::CancelledError(message), "discard");
}

absl::Status FailWithoutRetry(std::string_view error) {
  std::string message = error.empty() ? "failed without retry" : std::string(error);
  return Marked(absl::FailedPreconditionError(message), "fail_without_retry");
}

ParsedOutcome ParseHandlerOutcome(const absl::Status& status) {
  if (status.ok()) return {.outcome = HandlerOutcome::kSuccess};
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return {.outcome = HandlerOutcome::kFailure};
  const std::string value(*payload);
  const std::string prefix = kSnoozePrefix;
  int64_t us = 0;
  if (status.code() == absl::StatusCode::kUnavailable && absl::StartsWith(value, prefix) &&
      absl::SimpleAtoi(value.substr(prefix.size()), &us) && us >= 0) {
    return {.outcome = HandlerOutcome::kSnooze, .snooze = absl::Microseconds(us)};
  }
  if (status.code() == absl::StatusCode::kCancelled && value == "discard") {
    return {.outcome = HandlerOutcome::kDiscard};
  }
  if (status.code() == absl::StatusCode::kFailedPrecondition && value == "fail_without_retry") {
    return {.outcome = HandlerOutcome::kFailWithoutRetry};
  }
  return {.outcome = HandlerOutcome::kFailure};
}

}  // namespace popqueue
