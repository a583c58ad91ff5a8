// EmailNotifier against a real SMTP server (tests/notify/smtp_server.py,
// aiosmtpd) on 127.0.0.1 that requires STARTTLS and AUTH, with a self-signed
// certificate made at test time and trusted through smtpConfig.caFile.
#include "notify/email_notifier.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "notify/notifier.h"

extern char** environ;

namespace popqueue::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUser[] = "queue-bot";
constexpr char kPassword[] = "SMTP-PASSWORD-9f8e";

// The SMTP server process, its certificate directory and its stdout lines.
class SmtpServer {
 public:
  SmtpServer() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-smtp-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::string script = POPQUEUE_SMTP_SERVER_PY;
    std::string python = POPQUEUE_PYTHON3;
    char* argv[] = {python.data(),
                    script.data(),
                    dir_.data(),
                    const_cast<char*>(kUser),
                    const_cast<char*>(kPassword),
                    nullptr};
    if (posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    std::string ready = ReadLine(absl::Seconds(30));
    if (absl::StartsWith(ready, "READY ")) {
      if (!absl::SimpleAtoi(ready.substr(6), &port_)) port_ = 0;
    }
  }

  ~SmtpServer() {
    close(stdin_);  // the server exits on EOF
    close(stdout_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  int port() const { return port_; }
  std::string ca_file() const { return dir_ + "/cert.pem"; }

  // The next stdout line, or "" after `timeout`.
  std::string ReadLine(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (ms <= 0) return "";
      pollfd p{.fd = stdout_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, ms) <= 0) return "";
      char chunk[4096];
      ssize_t n = read(stdout_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int port_ = 0;
  std::string buffer_;
};

NotifyConfig EmailConfigFor(const SmtpServer& server, const std::string& password) {
  EmailConfig e;
  e.smtp.host = "127.0.0.1";
  e.smtp.port = server.port();
  e.smtp.starttls = true;
  e.smtp.user = kUser;
  e.smtp.password = password;
  e.smtp.ca_file = server.ca_file();
  e.from = "queue@example.com";
  e.to = {"ops@example.com", "oncall@example.com"};
  e.delivery = {.timeout = absl::Seconds(10),
                .max_attempts = 3,
                .backoff = absl::Milliseconds(10),
                .max_backoff = absl::Milliseconds(100)};
  NotifyConfig c;
  c.email = e;
  return c;
}

Notification DeadJob() {
  Notification n;
  n.event = kEventJobDead;
  n.delivery_id = "n-mail-1";
  n.queue = "billing";
  n.job_id = 4242;
  n.job_name = "charge-card";
  n.identifier = "invoice-7";
  n.data = "PAYLOAD-NOT-FOR-MAIL";
  n.attempt = 5;
  n.max_attempts = 5;
  n.error = "card declined";
  return n;
}

class EmailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.port(), 0) << "the SMTP server did not start: run scripts/install-deps "
                                    "(python3-aiosmtpd, openssl)";
  }
  SmtpServer server_;
};

TEST_F(EmailTest, SendsOverStartTlsWithAuth) {
  auto dispatcher = Dispatcher::Create(EmailConfigFor(server_, kPassword));
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  EXPECT_EQ((*dispatcher)->Publish(DeadJob()), 1);
  ASSERT_TRUE((*dispatcher)->WaitIdle(absl::Seconds(30)));
  EXPECT_EQ((*dispatcher)->counters().sent, 1);

  std::string line = server_.ReadLine(absl::Seconds(10));
  ASSERT_TRUE(absl::StartsWith(line, "MAIL ")) << line;
  nlohmann::json mail = nlohmann::json::parse(line.substr(5));
  EXPECT_EQ(mail["mail_from"], "queue@example.com");
  EXPECT_THAT(mail["rcpt_tos"].get<std::vector<std::string>>(),
              ElementsAre("ops@example.com", "oncall@example.com"));
  EXPECT_EQ(mail["from"], "queue@example.com");
  EXPECT_EQ(mail["to"], "ops@example.com, oncall@example.com");
  EXPECT_EQ(mail["subject"],
            "[pop-queue] job 4242 (charge-card) is dead after 5 attempts on queue billing");
  EXPECT_TRUE(mail["tls"].get<bool>());
  EXPECT_TRUE(mail["authenticated"].get<bool>());
  std::string body = mail["body"];
  EXPECT_THAT(body, HasSubstr("identifier: invoice-7"));
  EXPECT_THAT(body, HasSubstr("error: card declined"));
  EXPECT_THAT(body, HasSubstr("popqueue requeue 4242"));
  EXPECT_THAT(body, Not(HasSubstr("PAYLOAD-NOT-FOR-MAIL")));
}

TEST_F(EmailTest, WrongPasswordFailsOnceAndIsLoggedWithoutThePassword) {
  SetLogLevel(LogLevel::kDebug);
  const std::string wrong = "WRONG-PASSWORD-1a2b";
  auto dispatcher = Dispatcher::Create(EmailConfigFor(server_, wrong));
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  ::testing::internal::CaptureStderr();
  (*dispatcher)->Publish(DeadJob());
  bool idle = (*dispatcher)->WaitIdle(absl::Seconds(30));
  std::string logs = ::testing::internal::GetCapturedStderr();
  SetLogLevel(LogLevel::kInfo);
  ASSERT_TRUE(idle);

  NotifyCounters c = (*dispatcher)->counters();
  EXPECT_EQ(c.sent, 0);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.retried, 0);  // bad credentials are not retried
  EXPECT_EQ(server_.ReadLine(absl::Seconds(10)), std::string("AUTHFAIL ") + kUser);
  EXPECT_THAT(logs, HasSubstr("email gave up on job.dead n-mail-1 after 1 attempt"));
  EXPECT_THAT(logs, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(logs, HasSubstr("check the user name and password"));
  EXPECT_THAT(logs, Not(HasSubstr(wrong)));
  EXPECT_THAT(logs, Not(HasSubstr(kPassword)));
}

TEST_F(EmailTest, UntrustedCertificateIsRefused) {
  NotifyConfig config = EmailConfigFor(server_, kPassword);
  config.email->smtp.ca_file.clear();  // the system store does not know our cert
  auto dispatcher = Dispatcher::Create(config);
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  (*dispatcher)->Publish(DeadJob());
  ASSERT_TRUE((*dispatcher)->WaitIdle(absl::Seconds(30)));
  EXPECT_EQ((*dispatcher)->counters().failed, 1);
  EXPECT_EQ((*dispatcher)->counters().retried, 0);
}

TEST_F(EmailTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  NotifyConfig config = EmailConfigFor(server_, kPassword);
  config.email->smtp.ca_file.clear();
  config.email->smtp.insecure_skip_verify = true;
  auto dispatcher = Dispatcher::Create(config);
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  (*dispatcher)->Publish(DeadJob());
  ASSERT_TRUE((*dispatcher)->WaitIdle(absl::Seconds(30)));
  EXPECT_EQ((*dispatcher)->counters().sent, 1);
}

TEST(EmailMessage, HeadersCannotBeInjectedAndNonAsciiIsEncoded) {
  EmailConfig e;
  e.from = "q@example.com";
  e.to = {"ops@example.com"};
  EmailNotifier notifier(e);
  Notification n = DeadJob();
  n.job_name = "evil\r\nBcc: victim@example.com";
  std::string m = notifier.Message(n, absl::FromUnixSeconds(0));
  EXPECT_THAT(m, Not(HasSubstr("\r\nBcc:")));
  EXPECT_THAT(m, HasSubstr("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
  EXPECT_THAT(m, HasSubstr("Message-ID: <n-mail-1@pop-queue>\r\n"));
  n.job_name = "r\xC3\xA9sum\xC3\xA9";
  EXPECT_THAT(notifier.Message(n, absl::Now()), HasSubstr("Subject: =?UTF-8?B?"));
}

}  // namespace
}  // namespace popqueue::notify
