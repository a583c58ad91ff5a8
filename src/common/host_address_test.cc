#include "common/host_address.h"

#include "gtest/gtest.h"

namespace popqueue {
namespace {

TEST(LocalAddressTowards, LoopbackIsSeenFromLoopback) {
  EXPECT_EQ(LocalAddressTowards("127.0.0.1", 5432), "127.0.0.1");
  EXPECT_EQ(LocalAddressTowards("127.0.0.9", 1), "127.0.0.1");
}

TEST(LocalAddressTowards, NoAddressWithoutAHost) {
  EXPECT_EQ(LocalAddressTowards("", 5432), std::nullopt);
  EXPECT_EQ(LocalAddressTowards("/var/run/postgresql", 5432), std::nullopt);
}

TEST(RegistryAddress, ServerUrlsGiveTheRouteAddress) {
  EXPECT_EQ(RegistryAddress("postgres://u:p@127.0.0.1:5433/db"), "127.0.0.1");
  EXPECT_EQ(RegistryAddress("redis://127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(RegistryAddress("redis://127.0.0.1:7000,127.0.0.1:7001/?cluster=1"), "127.0.0.1");
  EXPECT_EQ(RegistryAddress("postgres:///db?host=127.0.0.1"), "127.0.0.1");
}

TEST(RegistryAddress, FallsBackToTheHostName) {
  EXPECT_EQ(RegistryAddress("sqlite://./q.db"), LocalHostname());
  EXPECT_EQ(RegistryAddress("postgres:///db?host=/var/run/postgresql"), LocalHostname());
  EXPECT_EQ(RegistryAddress("not a url"), LocalHostname());
  EXPECT_FALSE(LocalHostname().empty());
}

}  // namespace
}  // namespace popqueue
