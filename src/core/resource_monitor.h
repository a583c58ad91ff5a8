// Resource-aware concurrency: a load reader for /proc, the controller that
// turns readings into a concurrency limit, and the thread that applies it.
//
// The controller is AIMD with hysteresis, like TCP congestion control: when
// CPU or memory is at or above its high threshold the limit is multiplied by
// the decrease factor (a loaded machine needs relief quickly); when both are
// at or below their low thresholds it grows by a fixed step (recovering
// gently avoids oscillation); in the band between it holds. The limit stays
// within [min_concurrency, cap].
//
// CPU is the busy fraction of all cores between two reads of /proc/stat
// (not the load average, which lags by a minute and would keep lowering the
// limit long after load eased). Memory is 1 - MemAvailable / MemTotal from
// /proc/meminfo.
#ifndef POPQUEUE_CORE_RESOURCE_MONITOR_H_
#define POPQUEUE_CORE_RESOURCE_MONITOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "popqueue/options.h"

namespace popqueue::core {

// Reads /proc/stat and /proc/meminfo under `proc_root` (a directory, for
// tests). The first Read() has no previous CPU sample and reports the busy
// fraction since boot. Not thread-safe: one caller.
class ProcLoadReader {
 public:
  explicit ProcLoadReader(std::string proc_root = "/proc");
  // kUnavailable when a file cannot be read, kInternal when it is malformed.
  absl::StatusOr<LoadReading> Read();

 private:
  std::string root_;
  uint64_t last_busy_ = 0;
  uint64_t last_total_ = 0;
};

// The AIMD controller. Not thread-safe (owned by one ResourceMonitor).
class AdaptiveLimit {
 public:
  // `cap` is the configured global concurrency; the limit starts there.
  AdaptiveLimit(const ResourceLimits& options, int cap);
  // Applies one reading; returns the new limit.
  int Update(const LoadReading& reading);
  int limit() const { return limit_; }

 private:
  const ResourceLimits o_;
  const int cap_;
  const int floor_;
  int limit_;
};

// Reads the load every check_interval on its own thread and reports the
// limit through `on_limit` whenever it changes. Thread-safe.
class ResourceMonitor {
 public:
  ResourceMonitor(const ResourceLimits& options, int cap, std::function<void(int limit)> on_limit);
  ~ResourceMonitor();  // Stop()s

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // One check now (the thread calls it every check_interval). Public for
  // tests. Returns the limit after the check.
  int Check() ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<LoadReading> last_reading() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();

  const ResourceLimits options_;
  const std::function<void(int)> on_limit_;
  Mutex check_mu_;  // serializes Check()
  ProcLoadReader proc_ ABSL_GUARDED_BY(check_mu_);
  AdaptiveLimit limit_ ABSL_GUARDED_BY(check_mu_);
  bool warned_ ABSL_GUARDED_BY(check_mu_) = false;

  Mutex mu_;
  std::optional<LoadReading> last_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_RESOURCE_MONITOR_H_
