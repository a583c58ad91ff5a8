// Conformance: the worker registry.
#include <string>

#include "absl/time/clock.h"
#include "coord_conformance.h"

namespace popqueue::coord::testing {
namespace {

WorkerInfo Worker(const std::string& id) {
  return WorkerInfo{.id = id,
                    .host = "host-" + id,
                    .address = "10.77.0." + std::to_string(id.size()),
                    .pid = 4242,
                    .queues = {"default", "mail"},
                    .started_at = absl::FromUnixSeconds(1700000000),
                    .running = 1};
}

const WorkerInfo* Find(const std::vector<WorkerInfo>& ws, const std::string& id) {
  for (const WorkerInfo& w : ws) {
    if (w.id == id) return &w;
  }
  return nullptr;
}

TEST_P(CoordConformanceTest, RegistryRegisterHeartbeatListDeregister) {
  const absl::Time before = absl::Now() - absl::Seconds(2);
  ASSERT_TRUE(c().WorkerRegister({.worker = Worker("w1"), .ttl = absl::Seconds(30)}).ok());
  ASSERT_TRUE(Peer()->WorkerRegister({.worker = Worker("w0"), .ttl = absl::Seconds(30)}).ok());

  auto list = Peer()->WorkerList();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "w0");  // sorted by id
  const WorkerInfo* w = Find(*list, "w1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->host, "host-w1");
  EXPECT_EQ(w->address, "10.77.0.2");
  EXPECT_EQ(w->pid, 4242);
  EXPECT_EQ(w->queues, (std::vector<std::string>{"default", "mail"}));
  EXPECT_EQ(w->started_at, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(w->running, 1);
  EXPECT_GT(w->last_heartbeat_at, before);

  ASSERT_TRUE(
      c().WorkerHeartbeat({.worker_id = "w1", .running = 3, .ttl = absl::Seconds(30)}).ok());
  list = c().WorkerList();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_NE(Find(*list, "w1"), nullptr);
  EXPECT_EQ(Find(*list, "w1")->running, 3);
  EXPECT_EQ(Find(*list, "w1")->address, "10.77.0.2");  // a heartbeat keeps it
  EXPECT_EQ(Find(*list, "w1")->pid, 4242);

  ASSERT_TRUE(c().WorkerDeregister("w1").ok());
  list = Peer()->WorkerList();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(Find(*list, "w1"), nullptr);
  EXPECT_NE(Find(*list, "w0"), nullptr);
  // A late heartbeat does not revive a deregistered worker.
  EXPECT_TRUE(absl::IsNotFound(
      c().WorkerHeartbeat({.worker_id = "w1", .running = 0, .ttl = absl::Seconds(30)})));
  EXPECT_TRUE(c().WorkerDeregister("w1").ok());  // idempotent
}

TEST_P(CoordConformanceTest, RegistryDropsSilentWorkers) {
  const absl::Duration ttl = std::max(Res(), absl::Milliseconds(100));
  ASSERT_TRUE(c().WorkerRegister({.worker = Worker("quiet"), .ttl = ttl}).ok());
  ASSERT_TRUE(c().WorkerRegister({.worker = Worker("alive"), .ttl = absl::Seconds(30)}).ok());
  // Waiting for time to pass: there is nothing to signal.
  const absl::Time deadline = absl::Now() + ttl + Res() + absl::Seconds(3);
  std::vector<WorkerInfo> list;
  do {
    absl::SleepFor(absl::Milliseconds(50));
    auto l = Peer()->WorkerList();
    ASSERT_TRUE(l.ok()) << l.status();
    list = *l;
  } while (Find(list, "quiet") != nullptr && absl::Now() < deadline);
  EXPECT_EQ(Find(list, "quiet"), nullptr);
  EXPECT_NE(Find(list, "alive"), nullptr);
  EXPECT_TRUE(absl::IsNotFound(
      c().WorkerHeartbeat({.worker_id = "quiet", .running = 0, .ttl = absl::Seconds(30)})));
}

TEST_P(CoordConformanceTest, RegistryRejectsBadParams) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(c().WorkerRegister({.worker = Worker(""), .ttl = absl::Seconds(1)})));
  EXPECT_TRUE(absl::IsInvalidArgument(
      c().WorkerRegister({.worker = Worker("w"), .ttl = absl::ZeroDuration()})));
  EXPECT_TRUE(absl::IsNotFound(
      c().WorkerHeartbeat({.worker_id = "never", .running = 0, .ttl = absl::Seconds(1)})));
}

}  // namespace
}  // namespace popqueue::coord::testing
