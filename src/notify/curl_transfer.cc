// Transfers run on curl's multi interface, polled in 50 ms slices, so that an
// abort (dispatcher shutdown) ends even a transfer to a hanging endpoint
// promptly; the easy interface would only notice from its progress callback,
// which may be a second late. No signals (CURLOPT_NOSIGNAL): these run on
// threads of a larger process.
#include "notify/curl_transfer.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace popqueue::notify {
namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;

void GlobalInit() {
  static const bool ok = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)ok;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

size_t WriteToString(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  size_t bytes = size * n;
  if (out->size() < kMaxResponseBytes) {
    out->append(data, std::min(bytes, kMaxResponseBytes - out->size()));
  }
  return bytes;
}

struct ReadState {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadFromString(char* buffer, size_t size, size_t n, void* user) {
  auto* s = static_cast<ReadState*>(user);
  size_t len = std::min(size * n, s->data->size() - s->offset);
  // A body chunk, not a C string. NOLINTNEXTLINE(bugprone-not-null-terminated-result)
  std::memcpy(buffer, s->data->data() + s->offset, len);
  s->offset += len;
  return len;
}

absl::Status FromCurlCode(CURLcode code, const char* error_buffer, const std::string& what) {
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  std::string message = absl::StrCat(what, ": ", detail);
  switch (code) {
    case CURLE_OK: return absl::OkStatus();
    case CURLE_OPERATION_TIMEDOUT: return absl::DeadlineExceededError(message);
    case CURLE_LOGIN_DENIED:
      return absl::PermissionDeniedError(
          absl::StrCat(message, "; check the user name and password"));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return absl::FailedPreconditionError(absl::StrCat(
          message, "; the server's certificate is not trusted (set caFile to its CA bundle)"));
    case CURLE_USE_SSL_FAILED:
      return absl::FailedPreconditionError(
          absl::StrCat(message, "; the server does not offer STARTTLS"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return absl::InvalidArgumentError(message);
    default: return absl::UnavailableError(message);
  }
}

// Runs `easy` to completion, or until `abort`.
absl::Status Perform(CURL* easy, const std::atomic<bool>& abort, const char* error_buffer,
                     const std::string& what) {
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::ResourceExhaustedError("curl_multi_init failed");
  curl_multi_add_handle(multi, easy);
  CURLcode result = CURLE_OK;
  bool aborted = false;
  int running = 1;
  while (true) {
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      result = CURLE_RECV_ERROR;
      break;
    }
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE) result = msg->data.result;
      }
      break;
    }
    if (abort.load(std::memory_order_relaxed)) {
      aborted = true;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  curl_multi_remove_handle(multi, easy);
  curl_multi_cleanup(multi);
  if (aborted) return absl::CancelledError(absl::StrCat(what, ": aborted by shutdown"));
  return FromCurlCode(result, error_buffer, what);
}

void CommonOptions(CURL* easy, absl::Duration timeout, const std::string& ca_file,
                   char* error_buffer) {
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  long ms = std::max<long>(1, absl::ToInt64Milliseconds(timeout));  // NOLINT
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
  if (!ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file.c_str());
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "(url)";
  size_t host_begin = scheme_end + 3;
  size_t host_end = url.find_first_of("/?#", host_begin);
  std::string authority = url.substr(
      host_begin, host_end == std::string::npos ? std::string::npos : host_end - host_begin);
  if (size_t at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);
  }
  // Paths can hold secrets too (Slack-style webhook URLs), so they are elided.
  bool has_rest = host_end != std::string::npos && host_end + 1 < url.size();
  return absl::StrCat(url.substr(0, host_begin), authority, has_rest ? "/..." : "");
}

absl::Status StatusFromHttp(long status, const std::string& what) {  // NOLINT
  std::string message = absl::StrCat(what, " answered HTTP ", status);
  if (status >= 200 && status < 300) return absl::OkStatus();
  if (status >= 500 || status == 408 || status == 429) {
    return absl::UnavailableError(message);
  }
  if (status == 401 || status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(message, "; check the credentials"));
  }
  return absl::FailedPreconditionError(message);
}

absl::StatusOr<HttpResponse> HttpPost(const HttpRequest& request, const std::atomic<bool>& abort) {
  GlobalInit();
  EasyPtr easy(curl_easy_init());
  if (!easy) return absl::ResourceExhaustedError("curl_easy_init failed");
  char error_buffer[CURL_ERROR_SIZE] = {0};
  CommonOptions(easy.get(), request.timeout, request.ca_file, error_buffer);
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  SlistPtr headers_owner(headers);
  HttpResponse response;
  curl_easy_setopt(easy.get(), CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &WriteToString);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &response.body);
  std::string what = absl::StrCat("POST ", RedactUrl(request.url));
  if (absl::Status s = Perform(easy.get(), abort, error_buffer, what); !s.ok()) return s;
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::Status SmtpSend(const SmtpMessage& m, const std::atomic<bool>& abort) {
  GlobalInit();
  EasyPtr easy(curl_easy_init());
  if (!easy) return absl::ResourceExhaustedError("curl_easy_init failed");
  char error_buffer[CURL_ERROR_SIZE] = {0};
  CommonOptions(easy.get(), m.timeout, m.ca_file, error_buffer);
  curl_easy_setopt(easy.get(), CURLOPT_URL, m.url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // smtps:// is TLS from the first byte; for smtp:// this demands STARTTLS
  // and fails rather than send credentials or mail in the clear.
  curl_easy_setopt(easy.get(), CURLOPT_USE_SSL,
                   m.require_starttls ? static_cast<long>(CURLUSESSL_ALL)     // NOLINT
                                      : static_cast<long>(CURLUSESSL_NONE));  // NOLINT
  if (m.insecure_skip_verify) {
    curl_easy_setopt(easy.get(), CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy.get(), CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!m.user.empty()) {
    curl_easy_setopt(easy.get(), CURLOPT_USERNAME, m.user.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_PASSWORD, m.password.c_str());
  }
  std::string from = absl::StrCat("<", m.from, ">");
  curl_easy_setopt(easy.get(), CURLOPT_MAIL_FROM, from.c_str());
  curl_slist* rcpt = nullptr;
  for (const std::string& to : m.to) {
    rcpt = curl_slist_append(rcpt, absl::StrCat("<", to, ">").c_str());
  }
  SlistPtr rcpt_owner(rcpt);
  curl_easy_setopt(easy.get(), CURLOPT_MAIL_RCPT, rcpt);
  ReadState read{.data = &m.message};
  curl_easy_setopt(easy.get(), CURLOPT_READFUNCTION, &ReadFromString);
  curl_easy_setopt(easy.get(), CURLOPT_READDATA, &read);
  curl_easy_setopt(easy.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(m.message.size()));
  return Perform(easy.get(), abort, error_buffer, absl::StrCat("SMTP ", RedactUrl(m.url)));
}

}  // namespace popqueue::notify
