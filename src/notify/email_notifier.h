// EmailNotifier: mails a notification (subject: Notification::Summary, body:
// Notification::Text, plain UTF-8 text) through an SMTP server with libcurl.
//
// Transport security: `secure` = implicit TLS (smtps://, usually port 465);
// otherwise `starttls` (the default) requires STARTTLS before AUTH and the
// message, and fails if the server does not offer it. The server's
// certificate is verified against the system's trust store, or `caFile`.
// Bad credentials are a permanent failure (not retried); the password never
// appears in a message or log line.
//
// Thread-safety: see Notifier.
#ifndef POPQUEUE_NOTIFY_EMAIL_NOTIFIER_H_
#define POPQUEUE_NOTIFY_EMAIL_NOTIFIER_H_

#include <string>

#include "notify/notifier.h"

namespace popqueue::notify {

class EmailNotifier : public Notifier {
 public:
  explicit EmailNotifier(EmailConfig config) : config_(std::move(config)) {}

  std::string_view channel() const override { return "email"; }
  bool Wants(std::string_view event) const override {
    return config_.events.count(std::string(event)) > 0;
  }
  const DeliveryPolicy& delivery() const override { return config_.delivery; }
  absl::Status Send(const Notification& notification, const std::atomic<bool>& abort) override;

  // The RFC 5322 message (CRLF line ends) for `notification` sent at `now`.
  std::string Message(const Notification& notification, absl::Time now) const;

 private:
  const EmailConfig config_;
};

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_EMAIL_NOTIFIER_H_
