// Fuzz target: connection URLs (src/common/url.h), which come from flags,
// the environment and config.json.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto url = popqueue::ParseUrl(text);
  if (url.ok()) {
    // The redacted form is what logs and messages show: nothing of the
    // password reaches it (it reads the same whatever the password is).
    if (!url->password.empty()) {
      popqueue::Url other = *url;
      other.password = "x";
      if (other.Redacted() != url->Redacted()) std::abort();
    }
    if (url->port < 0 || url->port > 65535) std::abort();
  } else if (url.status().message().empty()) {
    std::abort();  // every error says what is wrong
  }
  (void)popqueue::PercentDecode(text);
  return 0;
}
