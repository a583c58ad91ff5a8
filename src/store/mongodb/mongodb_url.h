// What the MongoDB store reads from a mongodb:// URL, parsed by libmongoc
// itself so that everything the driver accepts works unchanged: several
// hosts (mongodb://h1:27017,h2:27017/?replicaSet=rs), credentials, TLS and
// every other option. The URL is handed to the driver as is; this is only
// for naming the database and for messages.
#ifndef POPQUEUE_STORE_MONGODB_MONGODB_URL_H_
#define POPQUEUE_STORE_MONGODB_MONGODB_URL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace popqueue::store::mongodb {

struct MongoUrl {
  std::vector<std::string> hosts;  // "host:port", in URL order
  std::string database;            // the URL's path, "" when none
  std::string replica_set;         // "" when none
  std::string redacted;            // the URL with the password as "***"
};

// InvalidArgument (quoting the redacted URL) when the driver refuses it.
// Thread-safe.
absl::StatusOr<MongoUrl> ParseMongoUrl(const std::string& url);

// The URL with the password replaced by "***" (text only: works on URLs the
// driver would refuse too). For logs and messages.
std::string RedactMongoUrl(const std::string& url);

}  // namespace popqueue::store::mongodb

#endif  // POPQUEUE_STORE_MONGODB_MONGODB_URL_H_
