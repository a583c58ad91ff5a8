// Notification: event mapping, payload cap, JSON and text renderings.
#include "notify/notification.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "notify/notify_config.h"

namespace popqueue::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

JobEvent Event(JobEvent::Kind kind) {
  JobEvent e{.kind = kind};
  e.job.id = 9;
  e.job.name = "n";
  e.job.data = "d";
  e.job.attempt = 2;
  e.job.max_attempts = 3;
  e.error = "boom";
  e.next_run_at = absl::FromUnixSeconds(100);
  return e;
}

TEST(Notification, MapsOnlyFailureEvents) {
  absl::Time now = absl::FromUnixSeconds(50);
  auto failed = NotificationFromJobEvent(Event(JobEvent::Kind::kRetrying), now);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->event, kEventJobFailed);
  EXPECT_EQ(failed->queue, "default");
  EXPECT_EQ(failed->next_run_at, absl::FromUnixSeconds(100));
  EXPECT_FALSE(failed->delivery_id.empty());
  auto dead = NotificationFromJobEvent(Event(JobEvent::Kind::kDead), now);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->event, kEventJobDead);
  EXPECT_NE(dead->delivery_id, failed->delivery_id);
  for (auto kind : {JobEvent::Kind::kStarted, JobEvent::Kind::kCompleted,
                    JobEvent::Kind::kCancelled, JobEvent::Kind::kReleased}) {
    EXPECT_FALSE(NotificationFromJobEvent(Event(kind), now));
  }
}

TEST(Notification, CapsThePayloadOnACharacterBoundary) {
  JobEvent e = Event(JobEvent::Kind::kDead);
  e.job.data = std::string(kMaxNotificationData - 1, 'a') + "\xC3\xA9" + "tail";
  auto n = NotificationFromJobEvent(e, absl::Now());
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->data_truncated);
  EXPECT_EQ(n->data.size(), kMaxNotificationData - 1);
  EXPECT_EQ(n->ToJson()["job"]["dataTruncated"], true);
}

TEST(Notification, TextHasNoPayload) {
  auto n = NotificationFromJobEvent(Event(JobEvent::Kind::kRetrying), absl::Now());
  ASSERT_TRUE(n);
  n->data = "SECRET-PAYLOAD";
  EXPECT_EQ(n->Summary(), "job 9 (n) failed attempt 2 of 3 on queue default");
  EXPECT_THAT(n->Text(), HasSubstr("error: boom"));
  EXPECT_THAT(n->Text(), HasSubstr("next attempt at: 1970-01-01T00:01:40.000Z"));
  EXPECT_THAT(n->Text(), Not(HasSubstr("SECRET-PAYLOAD")));
}

TEST(Notification, BacklogJson) {
  Notification n;
  n.event = kEventQueueBacklog;
  n.queue = "q";
  n.backlog = 10;
  n.threshold = 5;
  nlohmann::json j = n.ToJson();
  EXPECT_EQ(j["backlog"]["count"], 10);
  EXPECT_FALSE(j.contains("job"));
  EXPECT_EQ(n.Summary(), "queue q has 10 available jobs (threshold 5)");
}

}  // namespace
}  // namespace popqueue::notify
