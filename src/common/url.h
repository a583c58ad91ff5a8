// Parsing of connection URLs: scheme://[user[:password]@]host[:port][/path][?k=v&...]
// The authority may list several hosts, comma-separated
// (redis://h1:7000,h2:7001/?cluster=1): each is kept in `hosts`; `host` and
// `port` are the first. Whether a backend accepts several is its decision.
#ifndef POPQUEUE_COMMON_URL_H_
#define POPQUEUE_COMMON_URL_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace popqueue {

struct UrlHost {
  std::string host;  // brackets stripped from IPv6
  int port = 0;      // 0 when absent
};

struct Url {
  std::string scheme;                        // lower-case, e.g. "sqlite", "postgres"
  std::string user;                          // percent-decoded
  std::string password;                      // percent-decoded; never log it (see Redacted)
  std::string host;                          // "" when absent; brackets stripped from IPv6
  int port = 0;                              // 0 when absent
  std::vector<UrlHost> hosts;                // every host of the authority, in order
                                             // (one, maybe empty; none for sqlite)
  std::string path;                          // everything after the authority, without '?'; decoded
  std::map<std::string, std::string> query;  // decoded

  // The URL with the password replaced by "***", for logs and messages.
  std::string Redacted() const;
};

// InvalidArgument with a message that quotes the (redacted) URL and says what
// is wrong. For "sqlite:" the whole remainder after "sqlite://" is the path
// ("sqlite://./a.db", "sqlite:///abs/a.db", "sqlite://:memory:").
absl::StatusOr<Url> ParseUrl(std::string_view url);

// Percent-decodes `in`; InvalidArgument on a malformed escape.
absl::StatusOr<std::string> PercentDecode(std::string_view in);

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_URL_H_
