// A test fixture with a real SQLite store in a fresh temporary folder, for
// the core's unit tests (completer, heartbeater, maintenance): they test a
// component against the store contract's real rules, not a fake.
#ifndef POPQUEUE_TESTS_SUPPORT_SQLITE_STORE_TEST_H_
#define POPQUEUE_TESTS_SUPPORT_SQLITE_STORE_TEST_H_

#include <memory>

#include "gtest/gtest.h"
#include "store/registry.h"
#include "tests/support/test_util.h"

namespace popqueue::testing {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore({.url = dir_.SqliteUrl("jobs.db"), .collection = "jobs"});
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *opened;
  }

  TempDir dir_;  // destroyed after the store that writes into it
  std::shared_ptr<store::Store> store_;
};

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_SQLITE_STORE_TEST_H_
