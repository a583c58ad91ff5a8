#include "server/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace popqueue::server {

Metrics::Metrics(Clock* clock) : clock_(clock ? clock : Clock::Real()) {}

EventListener Metrics::Listener() {
  return [this](const JobEvent& event) { Record(event); };
}

ThroughputPoint& Metrics::MinuteLocked(absl::Time now) {
  absl::Time minute = absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 60 * 60);
  if (minutes_.empty() || minutes_.back().minute < minute) {
    minutes_.push_back(ThroughputPoint{.minute = minute});
    while (minutes_.size() > kThroughputMinutes) minutes_.pop_front();
    return minutes_.back();
  }
  // A clock that stepped back: count into the newest minute.
  return minutes_.back();
}

Metrics::PerName& Metrics::NameLocked(const std::string& name) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  if (by_name_.size() >= kMaxNames) return by_name_[kOtherName];
  return by_name_[name];
}

void Metrics::Record(const JobEvent& event) {
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  PerName& n = NameLocked(event.job.name);
  bool finished_attempt = false;
  switch (event.kind) {
    case JobEvent::Kind::kCompleted:
      ++n.completed;
      ++MinuteLocked(now).completed;
      finished_attempt = true;
      break;
    case JobEvent::Kind::kRetrying:
      ++n.failed;
      ++MinuteLocked(now).failed;
      finished_attempt = true;
      break;
    case JobEvent::Kind::kDead: {
      ++n.failed;
      ++n.dead;
      ThroughputPoint& p = MinuteLocked(now);
      ++p.failed;
      ++p.dead;
      finished_attempt = true;
      break;
    }
    case JobEvent::Kind::kCancelled: ++n.cancelled; break;
    case JobEvent::Kind::kStarted: {
      // Queue wait: from when the job was due to when its handler started.
      const absl::Time due = std::max(event.job.run_at, event.job.created_at);
      n.wait.Observe(kWaitBuckets, std::max(0.0, absl::ToDoubleSeconds(now - due)));
      break;
    }
    case JobEvent::Kind::kReleased:
    case JobEvent::Kind::kSnoozed: break;
  }
  if (!finished_attempt) return;
  n.duration.Observe(kBuckets, absl::ToDoubleSeconds(event.elapsed));
}

void Metrics::RecordEnqueued(const std::string& name, int64_t count) {
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  NameLocked(name).enqueued += count;
  MinuteLocked(now).enqueued += count;
}

void Metrics::MaybeRecordStates(const std::map<JobState, int64_t>& counts) {
  absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  if (!states_.empty() && now - states_.back().at < kStateSampleEvery) return;
  states_.push_back(StateSample{.at = now, .counts = counts});
  while (states_.size() > kStateSamples) states_.pop_front();
}

std::string PrometheusLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

template <size_t N>
void Metrics::AppendHistogram(std::string* out, const char* metric, const char* help,
                              const std::array<double, N>& bounds,
                              Histogram<N> PerName::*series) const {
  absl::StrAppendFormat(out, "# HELP %s %s\n# TYPE %s histogram\n", metric, help, metric);
  for (const auto& [name, n] : by_name_) {
    const Histogram<N>& h = n.*series;
    if (h.count == 0) continue;
    const std::string label = PrometheusLabel(name);
    int64_t cumulative = 0;
    for (size_t i = 0; i < N; ++i) {
      cumulative += h.buckets[i];
      absl::StrAppendFormat(out, "%s_bucket{name=\"%s\",le=\"%g\"} %d\n", metric, label, bounds[i],
                            cumulative);
    }
    absl::StrAppendFormat(out, "%s_bucket{name=\"%s\",le=\"+Inf\"} %d\n", metric, label, h.count);
    absl::StrAppendFormat(out, "%s_sum{name=\"%s\"} %.6f\n", metric, label, h.sum);
    absl::StrAppendFormat(out, "%s_count{name=\"%s\"} %d\n", metric, label, h.count);
  }
}

std::string Metrics::RenderPrometheus() const {
  MutexLock lock(&mu_);
  std::string out;
  struct Counter {
    const char* metric;
    const char* help;
    int64_t PerName::*field;
  };
  const Counter counters[] = {
      {"popqueue_jobs_enqueued_total", "Jobs newly enqueued through this server.",
       &PerName::enqueued},
      {"popqueue_jobs_completed_total",
       "Job attempts that succeeded in this process or its remote workers.", &PerName::completed},
      {"popqueue_jobs_failed_total",
       "Job attempts that failed in this process or its remote workers (retried or dead).",
       &PerName::failed},
      {"popqueue_jobs_dead_total",
       "Jobs that exhausted their attempts in this process or its remote workers (dead-letter).",
       &PerName::dead},
      {"popqueue_jobs_cancelled_total",
       "Jobs that ended cancelled in this process or its remote workers.", &PerName::cancelled},
  };
  for (const Counter& c : counters) {
    absl::StrAppendFormat(&out, "# HELP %s %s\n# TYPE %s counter\n", c.metric, c.help, c.metric);
    for (const auto& [name, n] : by_name_) {
      absl::StrAppendFormat(&out, "%s{name=\"%s\"} %d\n", c.metric, PrometheusLabel(name),
                            n.*c.field);
    }
  }
  AppendHistogram(&out, "popqueue_job_duration_seconds", "Handler run time of finished attempts.",
                  kBuckets, &PerName::duration);
  AppendHistogram(&out, "popqueue_job_queue_wait_seconds",
                  "From when a job was due (run_at) to its handler's start.", kWaitBuckets,
                  &PerName::wait);
  return out;
}

std::vector<ThroughputPoint> Metrics::Throughput() const {
  absl::Time now = clock_->Now();
  absl::Time last = absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 60 * 60);
  MutexLock lock(&mu_);
  std::vector<ThroughputPoint> out;
  out.reserve(kThroughputMinutes);
  auto it = minutes_.begin();
  for (int i = kThroughputMinutes - 1; i >= 0; --i) {
    absl::Time minute = last - absl::Minutes(i);
    while (it != minutes_.end() && it->minute < minute) ++it;
    if (it != minutes_.end() && it->minute == minute) {
      out.push_back(*it);
    } else {
      out.push_back(ThroughputPoint{.minute = minute});
    }
  }
  return out;
}

std::vector<StateSample> Metrics::States() const {
  MutexLock lock(&mu_);
  return {states_.begin(), states_.end()};
}

std::string RenderConcurrency(const ConcurrencyStats& s) {
  if (s.configured == 0) return "";
  std::string out = absl::StrFormat(
      "# HELP popqueue_concurrency_limit Jobs this process may run at once now.\n"
      "# TYPE popqueue_concurrency_limit gauge\npopqueue_concurrency_limit %d\n"
      "# HELP popqueue_concurrency_configured The configured cap on jobs running at once.\n"
      "# TYPE popqueue_concurrency_configured gauge\npopqueue_concurrency_configured %d\n"
      "# HELP popqueue_concurrency_running Jobs running in this process.\n"
      "# TYPE popqueue_concurrency_running gauge\npopqueue_concurrency_running %d\n"
      "# HELP popqueue_rate_limit_held_jobs Claimed jobs waiting for their job name's "
      "rate limit.\n"
      "# TYPE popqueue_rate_limit_held_jobs gauge\npopqueue_rate_limit_held_jobs %d\n",
      s.limit, s.configured, s.running, s.held);
  absl::StrAppendFormat(
      &out,
      "# HELP popqueue_handlers_stopping Handlers still running after a timeout or cancel "
      "asked them to stop (their jobs keep the lease).\n"
      "# TYPE popqueue_handlers_stopping gauge\npopqueue_handlers_stopping %d\n"
      "# HELP popqueue_handlers_overdue Handlers still running past the hard limit (the stop "
      "request plus stopGrace); their slots stay busy.\n"
      "# TYPE popqueue_handlers_overdue gauge\npopqueue_handlers_overdue %d\n"
      "# HELP popqueue_handler_overruns_total Attempts whose handler ran on after a stop "
      "request.\n"
      "# TYPE popqueue_handler_overruns_total counter\npopqueue_handler_overruns_total %d\n"
      "# HELP popqueue_handler_overrun_seconds_total Seconds handlers ran on after a stop "
      "request, summed.\n"
      "# TYPE popqueue_handler_overrun_seconds_total counter\n"
      "popqueue_handler_overrun_seconds_total %.3f\n",
      s.stopping, s.overdue, s.overruns, s.overrun_seconds);
  if (s.load) {
    absl::StrAppendFormat(
        &out,
        "# HELP popqueue_load_cpu_ratio CPU busy fraction seen by resource-aware concurrency.\n"
        "# TYPE popqueue_load_cpu_ratio gauge\npopqueue_load_cpu_ratio %.3f\n"
        "# HELP popqueue_load_memory_ratio Memory in use fraction seen by resource-aware "
        "concurrency.\n"
        "# TYPE popqueue_load_memory_ratio gauge\npopqueue_load_memory_ratio %.3f\n",
        s.load->cpu, s.load->memory);
  }
  return out;
}

std::string RenderMetricsText(Queue& queue, Metrics& metrics) {
  std::string out = metrics.RenderPrometheus();
  out += RenderConcurrency(queue.Concurrency());
  auto queues = queue.ListQueues();
  absl::StrAppend(&out,
                  "# HELP popqueue_store_up Whether the job store answered this scrape.\n"
                  "# TYPE popqueue_store_up gauge\npopqueue_store_up ",
                  queues.ok() ? 1 : 0, "\n");
  if (!queues.ok()) return out;
  std::map<JobState, int64_t> totals;
  std::vector<std::string> names;
  for (const QueueInfo& q : *queues) {
    for (const auto& [state, n] : q.counts) totals[state] += n;
    names.push_back(q.name);
  }
  metrics.MaybeRecordStates(totals);
  absl::StrAppend(&out,
                  "# HELP popqueue_jobs Jobs by queue and state.\n"
                  "# TYPE popqueue_jobs gauge\n");
  for (const QueueInfo& q : *queues) {
    for (JobState s : kAllJobStates) {
      auto it = q.counts.find(s);
      absl::StrAppendFormat(&out, "popqueue_jobs{queue=\"%s\",state=\"%s\"} %d\n",
                            PrometheusLabel(q.name), JobStateName(s),
                            it == q.counts.end() ? 0 : it->second);
    }
  }
  if (auto oldest = queue.OldestDue(names); oldest.ok()) {
    absl::StrAppend(&out,
                    "# HELP popqueue_queue_lag_seconds How long the longest-due job "
                    "of the queue has been due.\n# TYPE popqueue_queue_lag_seconds gauge\n");
    Clock* clock = queue.config().clock;
    const absl::Time now = clock ? clock->Now() : absl::Now();
    for (size_t i = 0; i < names.size(); ++i) {
      const double lag =
          (*oldest)[i] ? std::max(0.0, absl::ToDoubleSeconds(now - *(*oldest)[i])) : 0.0;
      absl::StrAppendFormat(&out, "popqueue_queue_lag_seconds{queue=\"%s\"} %.3f\n",
                            PrometheusLabel(names[i]), lag);
    }
  }
  absl::StrAppend(&out,
                  "# HELP popqueue_queue_paused 1 when the queue is paused.\n"
                  "# TYPE popqueue_queue_paused gauge\n");
  for (const QueueInfo& q : *queues) {
    absl::StrAppendFormat(&out, "popqueue_queue_paused{queue=\"%s\"} %d\n", PrometheusLabel(q.name),
                          q.paused ? 1 : 0);
  }
  return out;
}

}  // namespace popqueue::server
