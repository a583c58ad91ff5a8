// The libcurl plumbing the notifiers share: one easy handle per call, a
// timeout, an abort flag checked during the transfer, the TLS trust setting,
// and CURLcode -> absl::Status (kUnavailable / kDeadlineExceeded when another
// attempt may succeed).
//
// Thread-safety: each function is safe to call from any thread; curl's global
// initialisation happens once, thread-safely, on first use.
#ifndef POPQUEUE_NOTIFY_CURL_TRANSFER_H_
#define POPQUEUE_NOTIFY_CURL_TRANSFER_H_

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popqueue::notify {

struct HttpRequest {
  std::string url;
  // "Name: value" lines. Values may be secrets; they are never logged.
  std::vector<std::string> headers;
  std::string body;
  std::string ca_file;  // "" = the system's trust store
  absl::Duration timeout = absl::Seconds(10);
};

struct HttpResponse {
  long status = 0;   // NOLINT(runtime/int): curl's type
  std::string body;  // the first 64 KiB
};

// POSTs `request.body`. A response with any HTTP status is OK here (the
// caller judges it); transport failures are Unavailable (connect, TLS, reset),
// DeadlineExceeded (timeout), Cancelled (`abort` became true).
absl::StatusOr<HttpResponse> HttpPost(const HttpRequest& request, const std::atomic<bool>& abort);

// The status for an HTTP response code: OK for 2xx, Unavailable for 5xx, 408
// and 429, PermissionDenied for 401/403, FailedPrecondition otherwise.
// `what` names the endpoint ("webhook https://host/path").
absl::Status StatusFromHttp(long status, const std::string& what);  // NOLINT

struct SmtpMessage {
  std::string url;               // smtp://host:port or smtps://host:port
  bool require_starttls = true;  // for smtp://: CURLUSESSL_ALL, else none
  std::string user;
  std::string password;  // never logged
  std::string ca_file;
  bool insecure_skip_verify = false;
  std::string from;
  std::vector<std::string> to;
  std::string message;  // headers, blank line, body; CRLF line ends
  absl::Duration timeout = absl::Seconds(10);
};

// Sends `message` over SMTP. Bad credentials are PermissionDenied, a refused
// recipient or sender FailedPrecondition, transport failures Unavailable.
absl::Status SmtpSend(const SmtpMessage& message, const std::atomic<bool>& abort);

// The URL without userinfo, query or fragment: safe for logs.
std::string RedactUrl(const std::string& url);

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_CURL_TRANSFER_H_
