#include "notify/email_notifier.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "notify/curl_transfer.h"

namespace popqueue::notify {
namespace {

// A header value on one line: CR/LF would let a job name inject headers.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

// RFC 2047 encoded-word when the text is not plain ASCII.
std::string EncodeHeaderText(const std::string& text) {
  bool ascii = true;
  for (unsigned char c : text) ascii = ascii && c < 0x80;
  if (ascii) return text;
  return absl::StrCat("=?UTF-8?B?", absl::Base64Escape(text), "?=");
}

// Base64 in 76-character lines: any body survives SMTP's line limits.
std::string Base64Lines(const std::string& data) {
  std::string b64 = absl::Base64Escape(data);
  std::string out;
  for (size_t i = 0; i < b64.size(); i += 76) {
    absl::StrAppend(&out, b64.substr(i, 76), "\r\n");
  }
  return out;
}

}  // namespace

std::string EmailNotifier::Message(const Notification& n, absl::Time now) const {
  std::string subject = OneLine(n.Summary());
  if (!config_.subject_prefix.empty()) {
    subject = absl::StrCat(OneLine(config_.subject_prefix), " ", subject);
  }
  std::string body =
      absl::StrCat(n.Text(), "\n\nevent: ", n.event, "\ndelivery: ", n.delivery_id, "\n");
  body = absl::StrReplaceAll(body, {{"\r\n", "\n"}});
  body = absl::StrReplaceAll(body, {{"\n", "\r\n"}});
  return absl::StrCat(
      "Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", now, absl::UTCTimeZone()), "\r\n",
      "From: <", config_.from, ">\r\n", "To: ",
      absl::StrJoin(
          config_.to, ", ",
          [](std::string* out, const std::string& a) { absl::StrAppend(out, "<", a, ">"); }),
      "\r\n", "Message-ID: <", n.delivery_id, "@pop-queue>\r\n",
      "Subject: ", EncodeHeaderText(subject), "\r\n", "MIME-Version: 1.0\r\n",
      "Content-Type: text/plain; charset=utf-8\r\n", "Content-Transfer-Encoding: base64\r\n",
      "X-PopQueue-Event: ", n.event, "\r\n", "\r\n", Base64Lines(body));
}

absl::Status EmailNotifier::Send(const Notification& n, const std::atomic<bool>& abort) {
  const SmtpConfig& smtp = config_.smtp;
  const bool ipv6 = smtp.host.find(':') != std::string::npos && smtp.host.front() != '[';
  SmtpMessage m{
      .url = absl::StrCat(smtp.secure ? "smtps://" : "smtp://", ipv6 ? "[" : "", smtp.host,
                          ipv6 ? "]" : "", ":", smtp.port),
      .require_starttls = !smtp.secure && smtp.starttls,
      .user = smtp.user,
      .password = smtp.password,
      .ca_file = smtp.ca_file,
      .insecure_skip_verify = smtp.insecure_skip_verify,
      .from = config_.from,
      .to = config_.to,
      .message = Message(n, absl::Now()),
      .timeout = config_.delivery.timeout,
  };
  return SmtpSend(m, abort);
}

}  // namespace popqueue::notify
