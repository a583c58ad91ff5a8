#include "core/resource_monitor.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/thread.h"

namespace popqueue::core {
namespace {

absl::StatusOr<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::UnavailableError(absl::StrFormat("cannot read %s", path));
  }
  return line;
}

}  // namespace

ProcLoadReader::ProcLoadReader(std::string proc_root) : root_(std::move(proc_root)) {}

absl::StatusOr<LoadReading> ProcLoadReader::Read() {
  LoadReading r;
  // "cpu  user nice system idle iowait irq softirq steal ...": idle time is
  // idle + iowait; the rest is busy.
  const std::string stat_path = root_ + "/stat";
  auto line = ReadFirstLine(stat_path);
  if (!line.ok()) return line.status();
  std::istringstream fields(*line);
  std::string label;
  fields >> label;
  uint64_t v[8] = {0};
  int n = 0;
  while (n < 8 && fields >> v[n]) ++n;
  if (label != "cpu" || n < 4) {
    return absl::InternalError(
        absl::StrFormat("%s: expected a first line \"cpu user nice system idle ...\"", stat_path));
  }
  uint64_t total = 0;
  for (int i = 0; i < n; ++i) total += v[i];
  uint64_t idle = v[3] + (n > 4 ? v[4] : 0);
  uint64_t busy = total - idle;
  uint64_t d_total = total - last_total_, d_busy = busy - last_busy_;
  if (total < last_total_ || busy < last_busy_ || d_total == 0) {
    d_total = total;  // counters reset, or no time passed: use since boot
    d_busy = busy;
  }
  r.cpu = d_total == 0 ? 0 : static_cast<double>(d_busy) / static_cast<double>(d_total);
  last_total_ = total;
  last_busy_ = busy;

  const std::string mem_path = root_ + "/meminfo";
  std::ifstream mem(mem_path);
  if (!mem) return absl::UnavailableError(absl::StrFormat("cannot read %s", mem_path));
  double mem_total = -1, mem_available = -1;
  std::string key;
  double kb;
  std::string unit;
  while (mem >> key >> kb) {
    std::getline(mem, unit);
    if (key == "MemTotal:") mem_total = kb;
    if (key == "MemAvailable:") mem_available = kb;
  }
  if (mem_total <= 0 || mem_available < 0) {
    return absl::InternalError(
        absl::StrFormat("%s: expected MemTotal and MemAvailable (Linux >= 3.14)", mem_path));
  }
  r.memory = std::clamp(1.0 - mem_available / mem_total, 0.0, 1.0);
  return r;
}

AdaptiveLimit::AdaptiveLimit(const ResourceLimits& options, int cap)
    : o_(options),
      cap_(std::max(1, cap)),
      floor_(std::clamp(options.min_concurrency, 1, std::max(1, cap))),
      limit_(cap_) {}

int AdaptiveLimit::Update(const LoadReading& reading) {
  if (reading.cpu >= o_.cpu_high || reading.memory >= o_.memory_high) {
    int lowered = static_cast<int>(std::floor(limit_ * o_.decrease_factor));
    // Always make progress downwards, even when the factor rounds to limit_.
    limit_ = std::max(floor_, std::min(lowered, limit_ - 1));
  } else if (reading.cpu <= o_.cpu_low && reading.memory <= o_.memory_low) {
    limit_ = std::min(cap_, limit_ + std::max(1, o_.increase_step));
  }
  return limit_;
}

ResourceMonitor::ResourceMonitor(const ResourceLimits& options, int cap,
                                 std::function<void(int)> on_limit)
    : options_(options), on_limit_(std::move(on_limit)), limit_(options, cap) {}

ResourceMonitor::~ResourceMonitor() { Stop(); }

void ResourceMonitor::Start() {
  {
    MutexLock lock(&check_mu_);
    if (!options_.read_load) proc_.Read().IgnoreError();  // first CPU sample
  }
  thread_ = StartThread([this] { Loop(); });
}

void ResourceMonitor::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int ResourceMonitor::Check() {
  MutexLock lock(&check_mu_);
  absl::StatusOr<LoadReading> reading = options_.read_load ? options_.read_load() : proc_.Read();
  if (!reading.ok()) {
    // Keep the current limit: a monitor that cannot see must not throttle.
    if (!warned_) {
      Logf(LogLevel::kWarn, "resource-aware concurrency: reading load failed: %s",
           std::string(reading.status().message()));
      warned_ = true;
    }
    return limit_.limit();
  }
  warned_ = false;
  int before = limit_.limit();
  int after = limit_.Update(*reading);
  {
    MutexLock l(&mu_);
    last_ = *reading;
  }
  if (after != before) {
    Logf(LogLevel::kInfo, "resource-aware concurrency: cpu %.0f%%, memory %.0f%%: limit %d -> %d",
         reading->cpu * 100, reading->memory * 100, before, after);
    on_limit_(after);
  }
  return after;
}

std::optional<LoadReading> ResourceMonitor::last_reading() {
  MutexLock lock(&mu_);
  return last_;
}

void ResourceMonitor::Loop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.check_interval)) return;
    }
    Check();
  }
}

}  // namespace popqueue::core
