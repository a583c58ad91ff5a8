#include "core/resource_monitor.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popqueue::core {
namespace {

using ::testing::HasSubstr;

class FakeProc {
 public:
  FakeProc() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-proc-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~FakeProc() { std::filesystem::remove_all(dir_); }
  void Write(const std::string& file, const std::string& text) {
    std::ofstream(dir_ + "/" + file) << text;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

TEST(ProcLoadReader, CpuFromStatDeltasAndMemoryFromMemAvailable) {
  FakeProc proc;
  proc.Write("meminfo",
             "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n");
  // user nice system idle iowait irq softirq steal
  proc.Write("stat", "cpu  100 0 100 700 100 0 0 0\ncpu0 1 2 3 4\n");
  ProcLoadReader reader(proc.dir());
  auto first = reader.Read();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_DOUBLE_EQ(first->cpu, 0.2);  // since boot: 200 busy of 1000
  EXPECT_DOUBLE_EQ(first->memory, 0.75);
  // +300 busy, +100 idle since the last read.
  proc.Write("stat", "cpu  300 0 200 800 100 0 0 0\n");
  auto second = reader.Read();
  ASSERT_TRUE(second.ok());
  EXPECT_DOUBLE_EQ(second->cpu, 0.75);
}

TEST(ProcLoadReader, ReportsMissingAndMalformedFiles) {
  FakeProc proc;
  ProcLoadReader reader(proc.dir());
  EXPECT_EQ(reader.Read().status().code(), absl::StatusCode::kUnavailable);
  proc.Write("stat", "intr 1 2 3\n");
  EXPECT_THAT(reader.Read().status().message(), HasSubstr("expected a first line \"cpu"));
  proc.Write("stat", "cpu  1 1 1 1\n");
  proc.Write("meminfo", "MemTotal: 100 kB\n");
  EXPECT_THAT(reader.Read().status().message(), HasSubstr("MemAvailable"));
}

TEST(ProcLoadReader, ReadsTheRealProc) {
  if (!std::filesystem::exists("/proc/meminfo")) GTEST_SKIP() << "no /proc";
  ProcLoadReader reader;
  auto r = reader.Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->cpu, 0);
  EXPECT_LE(r->cpu, 1);
  EXPECT_GT(r->memory, 0);
  EXPECT_LT(r->memory, 1);
}

TEST(AdaptiveLimit, DecreasesMultiplicativelyIncreasesAdditivelyHoldsInBetween) {
  ResourceLimits o{.cpu_high = 0.9,
                   .cpu_low = 0.5,
                   .memory_high = 0.9,
                   .memory_low = 0.7,
                   .min_concurrency = 2,
                   .decrease_factor = 0.5,
                   .increase_step = 1};
  AdaptiveLimit limit(o, 16);
  EXPECT_EQ(limit.limit(), 16);
  const LoadReading hot_cpu{.cpu = 0.95, .memory = 0.1};
  const LoadReading hot_memory{.cpu = 0.1, .memory = 0.92};
  const LoadReading between{.cpu = 0.7, .memory = 0.1};
  const LoadReading cool{.cpu = 0.2, .memory = 0.5};
  EXPECT_EQ(limit.Update(hot_cpu), 8);
  EXPECT_EQ(limit.Update(hot_memory), 4);
  EXPECT_EQ(limit.Update(hot_cpu), 2);
  EXPECT_EQ(limit.Update(hot_cpu), 2);  // floor
  EXPECT_EQ(limit.Update(between), 2);  // hysteresis: hold
  EXPECT_EQ(limit.Update(cool), 3);
  EXPECT_EQ(limit.Update(cool), 4);
  EXPECT_EQ(limit.Update(between), 4);
  for (int i = 0; i < 20; ++i) limit.Update(cool);
  EXPECT_EQ(limit.limit(), 16);  // cap
}

TEST(AdaptiveLimit, AlwaysStepsDownEvenWhenTheFactorRoundsBack) {
  ResourceLimits o{.min_concurrency = 1, .decrease_factor = 0.9};
  AdaptiveLimit limit(o, 3);
  EXPECT_EQ(limit.Update({.cpu = 1}), 2);
  EXPECT_EQ(limit.Update({.cpu = 1}), 1);
}

TEST(ResourceMonitor, ReportsChangesFromInjectedReadings) {
  LoadReading now{.cpu = 0.95};
  ResourceLimits o{.enabled = true, .min_concurrency = 1};
  o.read_load = [&]() -> absl::StatusOr<LoadReading> { return now; };
  std::vector<int> reported;
  ResourceMonitor monitor(o, 4, [&](int l) { reported.push_back(l); });
  EXPECT_EQ(monitor.Check(), 2);
  EXPECT_EQ(monitor.Check(), 1);
  EXPECT_EQ(monitor.Check(), 1);  // unchanged: not reported
  now = {.cpu = 0.1, .memory = 0.1};
  EXPECT_EQ(monitor.Check(), 2);
  EXPECT_EQ(reported, (std::vector<int>{2, 1, 2}));
  ASSERT_TRUE(monitor.last_reading().has_value());
  EXPECT_DOUBLE_EQ(monitor.last_reading()->cpu, 0.1);
}

TEST(ResourceMonitor, AFailingReaderKeepsTheLimit) {
  ResourceLimits o{.enabled = true};
  o.read_load = []() -> absl::StatusOr<LoadReading> {
    return absl::UnavailableError("no load today");
  };
  int calls = 0;
  ResourceMonitor monitor(o, 4, [&](int) { ++calls; });
  EXPECT_EQ(monitor.Check(), 4);
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(monitor.last_reading().has_value());
}

}  // namespace
}  // namespace popqueue::core
