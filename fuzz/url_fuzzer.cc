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
    // The redacted form is what logs and messages show: the password never
    // appears in it (checked when long enough not to occur by chance).
    std::string redacted = url->Redacted();
    if (url->password.size() >= 6 && url->host.find(url->password) == std::string::npos &&
        url->path.find(url->password) == std::string::npos &&
        url->user.find(url->password) == std::string::npos &&
        redacted.find(url->password) != std::string::npos) {
      bool in_query = false;
      for (const auto& [k, v] : url->query) {
        in_query = in_query || k.find(url->password) != std::string::npos ||
                   v.find(url->password) != std::string::npos;
      }
      if (!in_query && url->scheme.find(url->password) == std::string::npos) std::abort();
    }
    if (url->port < 0 || url->port > 65535) std::abort();
  } else if (url.status().message().empty()) {
    std::abort();  // every error says what is wrong
  }
  (void)popqueue::PercentDecode(text);
  return 0;
}
