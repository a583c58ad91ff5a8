#include "common/host_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/url.h"

namespace popqueue {
namespace {

// The port a URL without one connects to. Any port selects the same route;
// the scheme's own is used for faithfulness.
int DefaultPort(const std::string& scheme) {
  static const std::map<std::string, int> kPorts = {{"postgres", 5432}, {"postgresql", 5432},
                                                    {"redis", 6379},    {"rediss", 6379},
                                                    {"mongodb", 27017}, {"memcached", 11211}};
  auto it = kPorts.find(scheme);
  return it == kPorts.end() ? 9 : it->second;
}

}  // namespace

std::string LocalHostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "unknown-host";
  return buf;
}

std::optional<std::string> LocalAddressTowards(const std::string& host, int port) {
  if (host.empty() || host.front() == '/') return std::nullopt;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0) {
    return std::nullopt;
  }
  std::optional<std::string> out;
  for (addrinfo* ai = found; ai != nullptr && !out; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char text[INET6_ADDRSTRLEN] = {0};
      const void* raw = nullptr;
      if (local.ss_family == AF_INET) {
        raw = &reinterpret_cast<const sockaddr_in*>(&local)->sin_addr;
      } else if (local.ss_family == AF_INET6) {
        raw = &reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr;
      }
      if (raw != nullptr && inet_ntop(local.ss_family, raw, text, sizeof(text)) != nullptr) {
        out = std::string(text);
      }
    }
    close(fd);
  }
  freeaddrinfo(found);
  return out;
}

std::string RegistryAddress(std::string_view url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (parsed.ok() && parsed->scheme != "sqlite") {
    std::string host = parsed->host;
    // libpq's postgres:///db?host=... form (a path there is a Unix socket).
    if (host.empty()) {
      auto it = parsed->query.find("host");
      if (it != parsed->query.end()) host = it->second;
    }
    int port = parsed->port != 0 ? parsed->port : DefaultPort(parsed->scheme);
    if (std::optional<std::string> a = LocalAddressTowards(host, port)) return *a;
  }
  return LocalHostname();
}

}  // namespace popqueue
