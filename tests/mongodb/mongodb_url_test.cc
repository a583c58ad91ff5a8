// mongodb:// URL handling: libmongoc parses the URL (several hosts,
// replicaSet, credentials), the store hands it to the driver unchanged, and
// no message or log line carries the password. Needs no server.
#include "store/mongodb/mongodb_url.h"

#include <string>

#include "common/url.h"
#include "gtest/gtest.h"
#include "store/mongodb/mongodb_store.h"
#include "store/registry.h"

namespace popqueue::store::mongodb {
namespace {

constexpr char kMultiHost[] =
    "mongodb://app:s3cr%40t@h1.example:27017,h2.example:27018/orders"
    "?replicaSet=rs0&w=majority";

TEST(MongoUrl, ParsesSeveralHostsReplicaSetAndDatabase) {
  absl::StatusOr<MongoUrl> url = ParseMongoUrl(kMultiHost);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->hosts, (std::vector<std::string>{"h1.example:27017", "h2.example:27018"}));
  EXPECT_EQ(url->replica_set, "rs0");
  EXPECT_EQ(url->database, "orders");
  EXPECT_EQ(url->redacted,
            "mongodb://app:***@h1.example:27017,h2.example:27018/orders"
            "?replicaSet=rs0&w=majority");
}

TEST(MongoUrl, DefaultsWhenAbsent) {
  absl::StatusOr<MongoUrl> url = ParseMongoUrl("mongodb://localhost");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->hosts, std::vector<std::string>{"localhost:27017"});
  EXPECT_EQ(url->database, "");
  EXPECT_EQ(url->replica_set, "");
  EXPECT_EQ(url->redacted, "mongodb://localhost");
}

TEST(MongoUrl, RedactsOnlyThePassword) {
  EXPECT_EQ(RedactMongoUrl("mongodb://u:p@h:1/db?x=1"), "mongodb://u:***@h:1/db?x=1");
  EXPECT_EQ(RedactMongoUrl("mongodb://u@h:1,g:2/"), "mongodb://u@h:1,g:2/");
  EXPECT_EQ(RedactMongoUrl("mongodb://h:1/?authSource=admin"), "mongodb://h:1/?authSource=admin");
  EXPECT_EQ(RedactMongoUrl("mongodb://u:a%3Ab%40c@h/"), "mongodb://u:***@h/");
  EXPECT_EQ(RedactMongoUrl("not a url"), "not a url");
}

TEST(MongoUrl, RefusedUrlIsInvalidArgumentWithoutThePassword) {
  absl::StatusOr<MongoUrl> url = ParseMongoUrl("mongodb://u:hunter2@h1:27017,:bad/?replicaSet=rs");
  ASSERT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << url.status();
  const std::string message(url.status().message());
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_NE(message.find("u:***@"), std::string::npos) << message;
}

// The store hands the whole host list to the driver: with nothing listening
// it fails as kUnavailable naming every host, and never the password.
TEST(MongoUrl, StorePassesSeveralHostsToTheDriver) {
  const std::string url =
      "mongodb://app:hunter2@127.0.0.1:1,127.0.0.1:2/"
      "?replicaSet=rs0&serverSelectionTimeoutMS=300";
  absl::StatusOr<std::shared_ptr<Store>> store =
      OpenMongoStore(Url{.scheme = "mongodb"},
                     StoreConfig{.url = url, .db_name = "popqueue_test", .collection = "jobs"});
  ASSERT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  const std::string message(store.status().message());
  EXPECT_NE(message.find("127.0.0.1:1,127.0.0.1:2"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

// The same through the registry, as users open it.
TEST(MongoUrl, RegistryPassesSeveralHostsToTheDriver) {
  const std::string url =
      "mongodb://app:hunter2@127.0.0.1:1,127.0.0.1:2/"
      "?replicaSet=rs0&serverSelectionTimeoutMS=300";
  absl::StatusOr<std::shared_ptr<Store>> store =
      OpenStore({.url = url, .db_name = "popqueue_test", .collection = "jobs"});
  const std::string message(store.status().message());
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

}  // namespace
}  // namespace popqueue::store::mongodb
