#include "common/url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popqueue {
namespace {

using ::testing::HasSubstr;

TEST(ParseUrl, Postgres) {
  auto url = ParseUrl("postgres://app:s%40cret@db.local:5433/jobs?sslmode=disable");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "postgres");
  EXPECT_EQ(url->user, "app");
  EXPECT_EQ(url->password, "s@cret");
  EXPECT_EQ(url->host, "db.local");
  EXPECT_EQ(url->port, 5433);
  EXPECT_EQ(url->path, "/jobs");
  EXPECT_EQ(url->query.at("sslmode"), "disable");
  EXPECT_EQ(url->Redacted(), "postgres://app:***@db.local:5433/jobs?sslmode=disable");
}

TEST(ParseUrl, SqlitePaths) {
  EXPECT_EQ(ParseUrl("sqlite://./popqueue.db")->path, "./popqueue.db");
  EXPECT_EQ(ParseUrl("sqlite:///var/lib/q.db")->path, "/var/lib/q.db");
  EXPECT_EQ(ParseUrl("sqlite://:memory:")->path, ":memory:");
  EXPECT_EQ(ParseUrl("SQLITE://x.db?synchronous=full")->query.at("synchronous"), "full");
}

TEST(ParseUrl, HostOnlyAndIpv6) {
  auto redis = ParseUrl("redis://localhost:6379");
  ASSERT_TRUE(redis.ok());
  EXPECT_EQ(redis->host, "localhost");
  EXPECT_EQ(redis->port, 6379);
  EXPECT_EQ(redis->path, "");
  auto v6 = ParseUrl("postgres://[::1]:5432/db");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 5432);
}

TEST(ParseUrl, ClearErrors) {
  EXPECT_THAT(ParseUrl("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(ParseUrl("localhost:5432").status().message(), HasSubstr("scheme://"));
  EXPECT_THAT(ParseUrl("postgres://h:99999/db").status().message(), HasSubstr("port"));
  EXPECT_THAT(ParseUrl("postgres://h:abc/db").status().message(), HasSubstr("port"));
  EXPECT_THAT(ParseUrl("postgres://h:/db").status().message(), HasSubstr("port"));
  EXPECT_THAT(ParseUrl("sqlite://").status().message(), HasSubstr("path"));
  EXPECT_THAT(ParseUrl("postgres://h/%zz").status().message(), HasSubstr("escape"));
  EXPECT_THAT(ParseUrl("postgres://[::1/db").status().message(), HasSubstr("["));
  EXPECT_THAT(ParseUrl("post gres://h").status().message(), HasSubstr("scheme"));
  EXPECT_THAT(ParseUrl("postgres://h o/db").status().message(), HasSubstr("host"));
}

TEST(ParseUrl, HostLists) {
  auto u = ParseUrl("redis://:pw@h1:7000,[::1]:7001,h3/?cluster=1");
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_EQ(u->hosts.size(), 3u);
  EXPECT_EQ(u->host, "h1");
  EXPECT_EQ(u->port, 7000);
  EXPECT_EQ(u->hosts[1].host, "::1");
  EXPECT_EQ(u->hosts[1].port, 7001);
  EXPECT_EQ(u->hosts[2].port, 0);
  EXPECT_EQ(u->Redacted(), "redis://:***@h1:7000,[::1]:7001,h3/?cluster=1");
  auto one = ParseUrl("redis://h:6379");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->hosts.size(), 1u);
  EXPECT_EQ(one->hosts[0].host, "h");
  EXPECT_THAT(ParseUrl("redis://h1,,h2").status().message(), HasSubstr("empty entry"));
  EXPECT_THAT(ParseUrl("redis://h1:1,h2:x").status().message(), HasSubstr("port"));
}

TEST(ParseUrl, ErrorsNeverShowThePassword) {
  auto bad = ParseUrl("postgres://u:topsecret@h:notaport/db");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::Not(HasSubstr("topsecret")));
  EXPECT_THAT(bad.status().message(), HasSubstr("u:***@h"));
}

}  // namespace
}  // namespace popqueue
