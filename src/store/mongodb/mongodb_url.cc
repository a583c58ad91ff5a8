#include "store/mongodb/mongodb_url.h"

#include <mongoc/mongoc.h>

#include <string>

#include "absl/strings/str_format.h"
#include "store/mongodb/mongo_client.h"

namespace popqueue::store::mongodb {

std::string RedactMongoUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const size_t start = scheme_end + 3;
  // The authority ends at the path or the options; a password may not hold
  // a raw '/', '?' or '@' (the driver wants them percent-encoded).
  size_t end = url.find_first_of("/?", start);
  if (end == std::string::npos) end = url.size();
  const size_t at = url.rfind('@', end);
  if (at == std::string::npos || at < start) return url;
  const size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

absl::StatusOr<MongoUrl> ParseMongoUrl(const std::string& url) {
  InitDriver();  // its log handler, before the driver may log a complaint
  MongoUrl out;
  out.redacted = RedactMongoUrl(url);
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (uri == nullptr) {
    // The driver's message quotes no part of the URL (so no password).
    return absl::InvalidArgumentError(
        absl::StrFormat("bad mongodb URL \"%s\": %s", out.redacted, error.message));
  }
  for (const mongoc_host_list_t* h = mongoc_uri_get_hosts(uri); h != nullptr; h = h->next) {
    out.hosts.push_back(h->host_and_port);
  }
  if (const char* db = mongoc_uri_get_database(uri); db != nullptr) {
    out.database = db;
  }
  if (const char* rs = mongoc_uri_get_replica_set(uri); rs != nullptr) {
    out.replica_set = rs;
  }
  mongoc_uri_destroy(uri);
  return out;
}

}  // namespace popqueue::store::mongodb
