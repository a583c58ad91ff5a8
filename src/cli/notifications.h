// The glue between the command and src/notify: validating notificationConfig
// while the configuration loads, and attaching notifications to the queue of
// `serve` and `worker`. Without the notify library in the build
// (POPQUEUE_WITH_NOTIFY unset) notificationConfig is only checked to be an
// object and no notification is sent; Start() says so once.
#ifndef POPQUEUE_CLI_NOTIFICATIONS_H_
#define POPQUEUE_CLI_NOTIFICATIONS_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"

namespace popqueue::cli {

// notify::ParseNotifyConfig as a validator for config::LoadOptions; null when
// the notify library is not built in.
std::function<absl::Status(const nlohmann::json&)> NotificationValidator();

// Delivers the notifications that `config` asks for about `queue`'s jobs
// until Stop() or destruction. Create before queue.Start() (it listens to
// job events); Stop() before the queue is destroyed.
class Notifications {
 public:
  // An object that does nothing when notificationConfig is empty.
  static absl::StatusOr<std::unique_ptr<Notifications>> Start(const config::Config& config,
                                                              Queue& queue);
  virtual ~Notifications() = default;
  virtual void Stop() = 0;
};

}  // namespace popqueue::cli

#endif  // POPQUEUE_CLI_NOTIFICATIONS_H_
