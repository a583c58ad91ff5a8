// popqueue::EnqueueTx: the job exists if and only if the caller's
// transaction commits.
#include "popqueue/postgres.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pg_test_env.h"

namespace popqueue::testing {
namespace {

class EnqueueTxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    POPQUEUE_REQUIRE_POSTGRES();
    config_.collection = UniqueCollection("txq");
    auto s = OpenTestStore(config_.collection);  // migrates
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *s;
    conn_ = RawConnect();
    // A table of its own: tests run in parallel, and two concurrent
    // CREATE TABLE IF NOT EXISTS of one name can collide in pg_type.
    orders_ = UniqueCollection("tx_orders");
    Column(conn_.get(), absl::StrCat("CREATE TABLE ", orders_, " (id bigint)"));
  }

  bool Exists(JobId id) { return store_->JobGet({.id = id}).ok(); }

  std::string orders_;
  QueueConfig config_;
  std::shared_ptr<store::postgres::PostgresStore> store_;
  RawConn conn_;
};

TEST_F(EnqueueTxTest, CommittedTransactionKeepsTheJob) {
  Column(conn_.get(), "BEGIN");
  Column(conn_.get(), absl::StrCat("INSERT INTO ", orders_, " VALUES (1)"));
  auto r = EnqueueTx(conn_.get(), config_, "email", R"({"order":1})", {.identifier = "order-1"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->inserted);
  EXPECT_FALSE(Exists(r->id));  // not visible before the commit
  Column(conn_.get(), "COMMIT");
  auto job = store_->JobGet({.id = r->id});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->name, "email");
  EXPECT_EQ(job->identifier, "order-1");
  EXPECT_EQ(job->max_attempts, config_.retries + 1);
  EXPECT_EQ(job->state, JobState::kAvailable);
}

TEST_F(EnqueueTxTest, RolledBackTransactionLeavesNoJob) {
  Column(conn_.get(), "BEGIN");
  auto r =
      EnqueueTx(conn_.get(), config_, {{.name = "a", .data = "1"}, {.name = "b", .data = "2"}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  Column(conn_.get(), "ROLLBACK");
  EXPECT_FALSE(Exists((*r)[0].id));
  EXPECT_FALSE(Exists((*r)[1].id));
  auto counts = store_->JobCountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_TRUE(counts->empty());
}

TEST_F(EnqueueTxTest, FailureLeavesTheCallersTransactionUsable) {
  QueueConfig missing = config_;
  missing.collection = "no_such_table";
  Column(conn_.get(), "BEGIN");
  Column(conn_.get(), absl::StrCat("INSERT INTO ", orders_, " VALUES (2)"));
  auto bad = EnqueueTx(conn_.get(), missing, "x", "y");
  EXPECT_TRUE(absl::IsFailedPrecondition(bad.status())) << bad.status();
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("migrate"));
  EXPECT_EQ(PQtransactionStatus(conn_.get()), PQTRANS_INTRANS);
  auto good = EnqueueTx(conn_.get(), config_, "x", "y");
  ASSERT_TRUE(good.ok()) << good.status();
  Column(conn_.get(), "COMMIT");
  EXPECT_TRUE(Exists(good->id));
}

TEST_F(EnqueueTxTest, OutsideATransactionCommitsAtOnce) {
  auto r = EnqueueTx(conn_.get(), config_, "x", "y");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(Exists(r->id));
  auto dup = EnqueueTx(conn_.get(), config_, "x", "z", {.identifier = "u"});
  auto dup2 = EnqueueTx(conn_.get(), config_, "x", "z", {.identifier = "u"});
  ASSERT_TRUE(dup.ok() && dup2.ok());
  EXPECT_EQ(dup->id, dup2->id);
  EXPECT_FALSE(dup2->inserted);
}

}  // namespace
}  // namespace popqueue::testing
