#include "core/concurrency_limiter.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace popqueue::core {
namespace {

absl::Status ValidateRate(const char* option, const std::string& key, const RateLimit& r) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("worker.%s: empty name", option));
  }
  if (r.limit < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "worker.%s[%s].limit must be >= 0 (0 = unlimited), got %d", option, key, r.limit));
  }
  if (r.limit > 0 && r.period < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("worker.%s[%s].period must be at least 1ms, got %s", option, key,
                        absl::FormatDuration(r.period)));
  }
  return absl::OkStatus();
}

absl::Status ValidateThresholds(const char* what, double low, double high) {
  if (!(low > 0 && low < high && high <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("worker.resource.%s_low and %s_high must satisfy 0 < low < high <= 1 "
                        "(fractions), got low %g, high %g",
                        what, what, low, high));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateLimits(const WorkerOptions& w) {
  if (w.max_concurrency < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "worker.max_concurrency must be >= 0 (0 = no global cap), got %d", w.max_concurrency));
  }
  for (const auto& [q, r] : w.queue_rate_limits) {
    if (absl::Status s = ValidateRate("queue_rate_limits", q, r); !s.ok()) return s;
  }
  for (const auto& [n, r] : w.job_rate_limits) {
    if (absl::Status s = ValidateRate("job_rate_limits", n, r); !s.ok()) return s;
  }
  if (w.max_held_jobs < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("worker.max_held_jobs must be >= 1, got %d", w.max_held_jobs));
  }
  const ResourceLimits& r = w.resource;
  if (!r.enabled) return absl::OkStatus();
  if (absl::Status s = ValidateThresholds("cpu", r.cpu_low, r.cpu_high); !s.ok()) return s;
  if (absl::Status s = ValidateThresholds("memory", r.memory_low, r.memory_high); !s.ok()) {
    return s;
  }
  if (r.min_concurrency < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("worker.resource.min_concurrency must be >= 1, got %d", r.min_concurrency));
  }
  if (r.check_interval < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("worker.resource.check_interval must be at least 1ms");
  }
  if (!(r.decrease_factor > 0 && r.decrease_factor < 1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "worker.resource.decrease_factor must be between 0 and 1 (exclusive), got %g",
        r.decrease_factor));
  }
  if (r.increase_step < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("worker.resource.increase_step must be >= 1, got %d", r.increase_step));
  }
  return absl::OkStatus();
}

ConcurrencyLimiter::ConcurrencyLimiter(const WorkerOptions& options) {
  std::vector<std::string> names = options.queues;
  if (names.empty()) names.push_back(kDefaultQueue);
  int sum = 0;
  for (const std::string& q : names) {
    if (queues_.count(q)) continue;
    auto it = options.concurrency.find(q);
    int limit = it != options.concurrency.end() ? it->second : options.default_concurrency;
    queues_[q].limit = std::max(1, limit);
    sum += queues_[q].limit;
  }
  configured_ = options.max_concurrency > 0 ? std::min(sum, options.max_concurrency) : sum;
  limit_ = configured_;
}

std::vector<std::string> ConcurrencyLimiter::queues() const {
  std::vector<std::string> out;
  for (const auto& [q, s] : queues_) out.push_back(q);
  return out;
}

std::vector<std::pair<std::string, int>> ConcurrencyLimiter::FreeSlots() {
  std::vector<std::pair<std::string, int>> out;
  int wanted = 0;
  for (const auto& [q, s] : queues_) {
    if (s.limit > s.busy) {
      out.emplace_back(q, s.limit - s.busy);
      wanted += s.limit - s.busy;
    }
  }
  int global = GlobalFree();
  if (wanted <= global) return out;
  if (global == 0) return {};
  // Deal the global free slots one at a time: queues that had more work
  // first, each group from a rotating start.
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = (i + rotate_) % out.size();
  ++rotate_;
  std::stable_partition(order.begin(), order.end(),
                        [&](size_t i) { return queues_.at(out[i].first).more; });
  std::vector<int> dealt(out.size(), 0);
  while (global > 0) {
    bool any = false;
    for (size_t i : order) {
      if (global == 0) break;
      if (dealt[i] < out[i].second) {
        ++dealt[i];
        --global;
        any = true;
      }
    }
    if (!any) break;
  }
  std::vector<std::pair<std::string, int>> result;
  for (size_t i = 0; i < out.size(); ++i) {
    if (dealt[i] > 0) result.emplace_back(out[i].first, dealt[i]);
  }
  return result;
}

void ConcurrencyLimiter::Acquire(const std::string& queue, int n) {
  queues_[queue].busy += n;
  busy_ += n;
}

void ConcurrencyLimiter::Release(const std::string& queue) {
  --queues_[queue].busy;
  --busy_;
}

void ConcurrencyLimiter::SetMore(const std::string& queue, bool more) {
  queues_[queue].more = more;
}

bool ConcurrencyLimiter::ShouldFetchAgain() const {
  if (GlobalFree() == 0) return false;
  for (const auto& [q, s] : queues_) {
    if (s.more && s.busy < s.limit) return true;
  }
  return false;
}

bool ConcurrencyLimiter::CanStart(const std::string& queue) const {
  auto it = queues_.find(queue);
  return it != queues_.end() && it->second.busy < it->second.limit && GlobalFree() > 0;
}

void ConcurrencyLimiter::SetLimit(int limit) { limit_ = std::clamp(limit, 1, configured_); }

int ConcurrencyLimiter::busy(const std::string& queue) const {
  auto it = queues_.find(queue);
  return it == queues_.end() ? 0 : it->second.busy;
}

int ConcurrencyLimiter::limit(const std::string& queue) const {
  auto it = queues_.find(queue);
  return it == queues_.end() ? 0 : std::min(it->second.limit, limit_);
}

}  // namespace popqueue::core
