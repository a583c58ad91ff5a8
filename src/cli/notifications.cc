#include "cli/notifications.h"

#include <utility>

#include "common/log.h"
#if POPQUEUE_WITH_NOTIFY
#include "notify/notifier.h"
#include "notify/notify_config.h"
#endif

namespace popqueue::cli {
namespace {

class NoNotifications : public Notifications {
 public:
  void Stop() override {}
};

#if POPQUEUE_WITH_NOTIFY
class DispatcherNotifications : public Notifications {
 public:
  explicit DispatcherNotifications(std::unique_ptr<notify::Dispatcher> d)
      : dispatcher_(std::move(d)) {}
  ~DispatcherNotifications() override { Stop(); }
  void Stop() override { dispatcher_->Stop(); }

 private:
  std::unique_ptr<notify::Dispatcher> dispatcher_;
};
#endif

}  // namespace

std::function<absl::Status(const nlohmann::json&)> NotificationValidator() {
#if POPQUEUE_WITH_NOTIFY
  return [](const nlohmann::json& j) { return notify::ParseNotifyConfig(j).status(); };
#else
  return nullptr;
#endif
}

absl::StatusOr<std::unique_ptr<Notifications>> Notifications::Start(const config::Config& config,
                                                                    Queue& queue) {
  const nlohmann::json& j = config.notification_config();
  if (j.is_null() || j.empty()) return std::make_unique<NoNotifications>();
#if POPQUEUE_WITH_NOTIFY
  absl::StatusOr<notify::NotifyConfig> parsed = notify::ParseNotifyConfig(j);
  if (!parsed.ok()) return parsed.status();
  if (parsed->empty()) {  // no channel: nothing would be delivered
    return std::make_unique<NoNotifications>();
  }
  absl::StatusOr<std::unique_ptr<notify::Dispatcher>> dispatcher =
      notify::Dispatcher::Create(*parsed);
  if (!dispatcher.ok()) return dispatcher.status();
  if (absl::Status s = (*dispatcher)->Attach(queue); !s.ok()) return s;
  return std::unique_ptr<Notifications>(new DispatcherNotifications(*std::move(dispatcher)));
#else
  Logf(LogLevel::kWarn,
       "notificationConfig is set but this build has no notifications "
       "(src/notify); none will be sent");
  return std::make_unique<NoNotifications>();
#endif
}

}  // namespace popqueue::cli
