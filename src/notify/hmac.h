// HMAC-SHA256 for webhook signatures (OpenSSL).
#ifndef POPQUEUE_NOTIFY_HMAC_H_
#define POPQUEUE_NOTIFY_HMAC_H_

#include <string>
#include <string_view>

namespace popqueue::notify {

// Lower-case hex HMAC-SHA256 of `message` keyed by `key`. Thread-safe.
std::string HmacSha256Hex(std::string_view key, std::string_view message);

}  // namespace popqueue::notify

#endif  // POPQUEUE_NOTIFY_HMAC_H_
