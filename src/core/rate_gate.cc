#include "core/rate_gate.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace popqueue::core {
namespace {

// How long a coordinator failure keeps a queue or name closed.
constexpr absl::Duration kErrorRetry = absl::Seconds(1);

// At most this much of a limit's time is taken at once, so starts come in
// small, even steps (50/s: 5 every 100 ms) rather than in bursts of a
// whole period's worth.
constexpr absl::Duration kMaxTakeSpan = absl::Milliseconds(100);

int64_t MaxCost(const RateLimit& limit) {
  return std::clamp<int64_t>(
      static_cast<int64_t>(absl::FDivDuration(kMaxTakeSpan * limit.limit, limit.period)), 1,
      limit.limit);
}

// The limiter's emission interval times `cost`: when the tokens just taken
// would have been granted one by one.
absl::Duration Spread(const RateLimit& limit, int64_t cost) {
  return limit.period * cost / limit.limit;
}

}  // namespace

RateGate::RateGate(std::shared_ptr<coord::Coordinator> coordinator, const WorkerOptions& options,
                   Clock* clock)
    : coordinator_(std::move(coordinator)),
      clock_(clock),
      max_held_(std::max(1, options.max_held_jobs)) {
  for (const auto& [q, l] : options.queue_rate_limits) {
    if (l.limit > 0) queues_[q].limit = l;
  }
  for (const auto& [n, l] : options.job_rate_limits) {
    if (l.limit > 0) names_[n].limit = l;
  }
  active_ = !queues_.empty() || !names_.empty();
}

bool RateGate::Take(const std::string& key, const RateLimit& limit, int64_t cost,
                    absl::Duration* retry_after) {
  auto d = coordinator_->RateLimitTake(coord::RateLimitTakeParams{
      .key = key, .limit = limit.limit, .period = limit.period, .cost = cost});
  if (!d.ok()) {
    if (!warned_) {
      Logf(LogLevel::kWarn, "rate limit %s: coordinator failed (%s); holding jobs back", key,
           std::string(d.status().message()));
      warned_ = true;
    }
    *retry_after = kErrorRetry;
    return false;
  }
  warned_ = false;
  if (d->allowed) return true;
  *retry_after = std::max(d->retry_after, absl::Milliseconds(1));
  return false;
}

int RateGate::QueueAllowance(const std::string& queue, int want) {
  if (want <= 0) return 0;
  if (!active_) return want;
  if (held_.load() >= max_held_) {
    auto h = held_by_queue_.find(queue);
    if (h != held_by_queue_.end() && h->second > 0) return 0;
  }
  auto it = queues_.find(queue);
  if (it == queues_.end()) return want;
  QueueState& s = it->second;
  absl::Time now = clock_->Now();
  if (now >= s.credit_until) s.credit = 0;
  if (s.credit < want && now >= s.blocked_until) {
    // After a short claim, one token at a time (see the header).
    int64_t ask = s.dry ? (s.credit == 0 ? 1 : 0) : want - s.credit;
    ask = std::min<int64_t>(ask, MaxCost(s.limit));
    absl::Duration retry;
    if (ask > 0) {
      if (Take(absl::StrCat("queue:", queue), s.limit, ask, &retry)) {
        s.credit += static_cast<int>(ask);
        s.credit_until = now + Spread(s.limit, ask);
        s.blocked_until = s.credit_until;  // the limiter refuses until then
      } else {
        s.blocked_until = now + retry;
      }
    }
  }
  return std::min(want, s.credit);
}

void RateGate::QueueClaimed(const std::string& queue, int asked, int claimed) {
  auto it = queues_.find(queue);
  if (it == queues_.end()) return;
  it->second.credit = std::max(0, it->second.credit - claimed);
  it->second.dry = claimed < asked;
}

bool RateGate::QueueBlocked(const std::string& queue) const {
  auto it = queues_.find(queue);
  if (it == queues_.end()) return false;
  return it->second.credit == 0 && clock_->Now() < it->second.blocked_until;
}

std::vector<std::shared_ptr<Execution>> RateGate::Admit(
    std::vector<std::shared_ptr<Execution>> claimed) {
  if (!active_ || names_.empty()) return claimed;
  absl::Time now = clock_->Now();
  std::vector<bool> go(claimed.size(), true);
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < claimed.size(); ++i) {
    if (names_.count(claimed[i]->job.name)) by_name[claimed[i]->job.name].push_back(i);
  }
  for (auto& [name, idx] : by_name) {
    NameState& n = names_.at(name);
    size_t granted = 0;
    // Older held jobs of the name go first.
    if (n.held.empty() && now >= n.blocked_until) {
      int64_t cost = std::min<int64_t>(static_cast<int64_t>(idx.size()), MaxCost(n.limit));
      absl::Duration retry;
      if (Take(absl::StrCat("job:", name), n.limit, cost, &retry)) {
        granted = static_cast<size_t>(cost);
        n.blocked_until = now + Spread(n.limit, cost);
      } else {
        n.blocked_until = now + retry;
      }
    }
    for (size_t k = granted; k < idx.size(); ++k) {
      go[idx[k]] = false;
      ++held_by_queue_[claimed[idx[k]]->job.queue];
      n.held.push_back(std::move(claimed[idx[k]]));
      held_.fetch_add(1);
    }
  }
  std::vector<std::shared_ptr<Execution>> out;
  for (size_t i = 0; i < claimed.size(); ++i) {
    if (go[i]) out.push_back(std::move(claimed[i]));
  }
  return out;
}

std::vector<std::shared_ptr<Execution>> RateGate::ReleaseDue(
    std::map<std::string, int>& free_slots, std::vector<std::shared_ptr<Execution>>& cancelled) {
  std::vector<std::shared_ptr<Execution>> out;
  if (held_.load() == 0) return out;
  absl::Time now = clock_->Now();
  auto unhold = [this](const std::shared_ptr<Execution>& e) {
    --held_by_queue_[e->job.queue];
    held_.fetch_sub(1);
  };
  for (auto& [name, n] : names_) {
    if (n.held.empty()) continue;
    // Drop attempts the heartbeater ended (lease lost); pull out cancelled.
    std::erase_if(n.held, [&](const std::shared_ptr<Execution>& e) {
      if (e->finalized.load()) {
        unhold(e);
        return true;
      }
      if (e->stop() == StopReason::kCancelRequested) {
        unhold(e);
        cancelled.push_back(e);
        return true;
      }
      return false;
    });
    if (n.held.empty() || now < n.blocked_until) continue;
    // The oldest jobs that have a free slot, stopping at the first that has
    // none (jobs of one name start in claim order).
    std::map<std::string, int> left = free_slots;
    int64_t ready = 0;
    for (const auto& e : n.held) {
      if (ready == MaxCost(n.limit) || left[e->job.queue] <= 0) break;
      --left[e->job.queue];
      ++ready;
    }
    if (ready == 0) continue;
    absl::Duration retry;
    if (!Take(absl::StrCat("job:", name), n.limit, ready, &retry)) {
      n.blocked_until = now + retry;
      continue;
    }
    n.blocked_until = now + Spread(n.limit, ready);
    for (int64_t k = 0; k < ready; ++k) {
      std::shared_ptr<Execution> e = std::move(n.held.front());
      n.held.pop_front();
      --free_slots[e->job.queue];
      unhold(e);
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<std::shared_ptr<Execution>> RateGate::TakeAllHeld() {
  std::vector<std::shared_ptr<Execution>> out;
  for (auto& [name, n] : names_) {
    for (auto& e : n.held) out.push_back(std::move(e));
    n.held.clear();
  }
  held_by_queue_.clear();
  held_.store(0);
  return out;
}

std::vector<std::shared_ptr<Execution>> RateGate::Held() const {
  std::vector<std::shared_ptr<Execution>> out;
  for (const auto& [name, n] : names_) out.insert(out.end(), n.held.begin(), n.held.end());
  return out;
}

absl::Time RateGate::NextWake() const {
  absl::Time now = clock_->Now();
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [q, s] : queues_) {
    if (s.credit == 0 && s.blocked_until > now) next = std::min(next, s.blocked_until);
  }
  for (const auto& [name, n] : names_) {
    if (!n.held.empty() && n.blocked_until > now) next = std::min(next, n.blocked_until);
  }
  return next;
}

}  // namespace popqueue::core
