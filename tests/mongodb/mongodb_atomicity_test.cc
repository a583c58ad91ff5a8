// What each MongoDB-wire server guarantees to concurrent writers on separate
// connections, for the operations the store's claim could be built on. MongoDB
// documents each single-document write as atomic: of several writers whose
// filter holds a precondition ({_id, state: "available", seq: 0}), exactly one
// matches and changes the document, and of several inserts of one _id
// exactly one succeeds. These tests race kThreads clients (one pool and so
// one connection each) over the same documents and count, per document, how
// many writers were told they won. A server on which a count exceeds one
// cannot carry a claim protocol built on that operation (docs/mongodb.md).
#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mongo_test_util.h"
#include "store/mongodb/mongo_client.h"

namespace popqueue::store::mongodb {
namespace {

using ::popqueue::testing::FreshCollection;

using MongoAtomicity = ::popqueue::testing::MongoServerTest;

constexpr char kDatabase[] = "popqueue_test";
constexpr int kThreads = 8;
constexpr int kDocs = 300;

// FerretDB names itself in buildInfo (as the store detects it).
bool IsFerretDb(Pool& pool) {
  Pool::Lease lease(&pool);
  Collection c(pool, lease, kDatabase, "buildinfo");
  absl::StatusOr<BsonPtr> info =
      c.ReadCommand(std::move(Doc().Int32("buildInfo", 1)), "test: buildInfo");
  bson_iter_t it;
  return info.ok() && bson_iter_init_find(&it, info->get(), "ferretdbVersion");
}

// FerretDB 1.24 runs a conditional update or findAndModify as a read and then
// a blind write, so racing writers may all be told they changed a document
// (measured: a few to a few dozen of 300 per run). The store never relies on
// it (claim records decide claims there: InsertOfOneIdSucceedsOnce); on
// FerretDB the count is reported and the test skipped, saying so.
#define POPQUEUE_EXPECT_ATOMIC(doubles, pool, what)                             \
  if ((doubles) > 0 && IsFerretDb(pool)) {                                      \
    GTEST_SKIP() << "FerretDB: " << (doubles) << " of " << kDocs << " " << what \
                 << " (known: its conditional writes are not "                  \
                    "atomic; docs/mongodb.md)";                                 \
  }                                                                             \
  EXPECT_EQ((doubles), 0) << what

// kThreads clients, each with its own pool (its own connection).
std::vector<std::unique_ptr<Pool>> OpenPools(const std::string& url) {
  std::vector<std::unique_ptr<Pool>> pools;
  for (int t = 0; t < kThreads; ++t) {
    absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(url);
    EXPECT_TRUE(pool.ok()) << pool.status();
    if (!pool.ok()) return {};
    pools.push_back(std::move(*pool));
  }
  return pools;
}

// kDocs documents {_id: i, state: "available", seq: 0}.
void InsertAvailable(Pool& pool, const std::string& name) {
  Pool::Lease lease(&pool);
  Collection c(pool, lease, kDatabase, name);
  std::vector<Doc> docs;
  for (int i = 0; i < kDocs; ++i) {
    docs.push_back(std::move(Doc().Int64("_id", i).Str("state", "available").Int64("seq", 0)));
  }
  std::vector<const bson_t*> ptrs;
  for (const Doc& d : docs) ptrs.push_back(d.get());
  absl::StatusOr<std::vector<WriteError>> r = c.InsertMany(ptrs, "test: jobs");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->empty());
}

void Drop(Pool& pool, const std::string& name) {
  Pool::Lease lease(&pool);
  Collection c(pool, lease, kDatabase, name);
  (void)c.Command(std::move(Doc().Str("drop", name)), "test: drop");
}

// Each thread visits every document in its own random order (so threads
// meet on documents at different times) and runs `attempt(pool, t, i)`,
// which returns whether that writer was told it changed document i.
// Returns the number of documents more than one writer won.
template <typename Attempt>
int RaceAndCountDoubleWins(std::vector<std::unique_ptr<Pool>>& pools, Attempt attempt) {
  std::vector<std::atomic<int>> wins(kDocs);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> order(kDocs);
      for (int i = 0; i < kDocs; ++i) order[i] = i;
      std::mt19937 rng(t);
      // Neighbouring blocks: threads collide often but not in lockstep.
      std::shuffle(order.begin(), order.end(), rng);
      for (int i : order) {
        absl::StatusOr<bool> won = attempt(*pools[t], t, i);
        if (!won.ok()) {
          if (errors++ == 0) ADD_FAILURE() << won.status();
          return;
        }
        if (*won) ++wins[i];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  int doubles = 0, unwon = 0;
  for (int i = 0; i < kDocs; ++i) {
    if (wins[i] > 1) ++doubles;
    if (wins[i] == 0) ++unwon;
  }
  EXPECT_EQ(unwon, 0) << "documents nobody changed";
  return doubles;
}

Doc Precondition(int i) {
  return std::move(Doc().Int64("_id", i).Str("state", "available").Int64("seq", 0));
}

Doc Take(int t) {
  return std::move(
      Doc().Sub("$set", Doc().Str("state", "running").Int64("seq", 1).Int64("owner", t)));
}

// The store's claim: an update whose filter holds the state precondition.
TEST_P(MongoAtomicity, ConditionalUpdateChangesEachDocumentOnce) {
  POPQUEUE_REQUIRE_MONGODB(url);
  std::vector<std::unique_ptr<Pool>> pools = OpenPools(url);
  ASSERT_EQ(pools.size(), static_cast<size_t>(kThreads));
  const std::string name = FreshCollection("atomic_update");
  InsertAvailable(*pools[0], name);
  const int doubles =
      RaceAndCountDoubleWins(pools, [&](Pool& pool, int t, int i) -> absl::StatusOr<bool> {
        Pool::Lease lease(&pool);
        Collection c(pool, lease, kDatabase, name);
        absl::StatusOr<UpdateResult> r = c.UpdateOne(Precondition(i), Take(t), false, "test: take");
        if (!r.ok()) return r.status();
        return r->modified == 1;
      });
  Drop(*pools[0], name);
  POPQUEUE_EXPECT_ATOMIC(doubles, *pools[0], "documents changed by more than one racing update");
}

// The same precondition through the store's bulk form (BulkUpdateById:
// unordered update-many ops, counted by matched).
TEST_P(MongoAtomicity, ConditionalBulkUpdateMatchesEachDocumentOnce) {
  POPQUEUE_REQUIRE_MONGODB(url);
  std::vector<std::unique_ptr<Pool>> pools = OpenPools(url);
  ASSERT_EQ(pools.size(), static_cast<size_t>(kThreads));
  const std::string name = FreshCollection("atomic_bulk");
  InsertAvailable(*pools[0], name);
  const int doubles =
      RaceAndCountDoubleWins(pools, [&](Pool& pool, int t, int i) -> absl::StatusOr<bool> {
        Pool::Lease lease(&pool);
        Collection c(pool, lease, kDatabase, name);
        std::vector<UpdateOp> ops;
        ops.push_back(UpdateOp{Precondition(i), Take(t)});
        absl::StatusOr<int64_t> matched = c.BulkUpdateById(ops, "test: take");
        if (!matched.ok()) return matched.status();
        return *matched == 1;
      });
  Drop(*pools[0], name);
  POPQUEUE_EXPECT_ATOMIC(doubles, *pools[0], "documents matched by more than one racing update");
}

// findAndModify with the precondition: the document back means "yours".
TEST_P(MongoAtomicity, ConditionalFindAndModifyReturnsEachDocumentOnce) {
  POPQUEUE_REQUIRE_MONGODB(url);
  std::vector<std::unique_ptr<Pool>> pools = OpenPools(url);
  ASSERT_EQ(pools.size(), static_cast<size_t>(kThreads));
  const std::string name = FreshCollection("atomic_fam");
  InsertAvailable(*pools[0], name);
  const int doubles =
      RaceAndCountDoubleWins(pools, [&](Pool& pool, int t, int i) -> absl::StatusOr<bool> {
        Pool::Lease lease(&pool);
        Collection c(pool, lease, kDatabase, name);
        absl::StatusOr<BsonPtr> doc =
            c.FindAndModify(Precondition(i), nullptr, Take(t), false, "test: take");
        if (!doc.ok()) return doc.status();
        return *doc != nullptr;
      });
  Drop(*pools[0], name);
  POPQUEUE_EXPECT_ATOMIC(doubles, *pools[0],
                         "documents returned to more than one racing findAndModify");
}

// The store's claim records: inserts of one _id; exactly one may succeed.
TEST_P(MongoAtomicity, InsertOfOneIdSucceedsOnce) {
  POPQUEUE_REQUIRE_MONGODB(url);
  std::vector<std::unique_ptr<Pool>> pools = OpenPools(url);
  ASSERT_EQ(pools.size(), static_cast<size_t>(kThreads));
  const std::string name = FreshCollection("atomic_insert");
  {
    // The collection exists before the race (an implicit create races too).
    Pool::Lease lease(pools[0].get());
    Collection c(*pools[0], lease, kDatabase, name);
    ASSERT_TRUE(c.InsertOne(std::move(Doc().Str("_id", "seed")), "test: seed").ok());
  }
  const int doubles =
      RaceAndCountDoubleWins(pools, [&](Pool& pool, int t, int i) -> absl::StatusOr<bool> {
        Pool::Lease lease(&pool);
        Collection c(pool, lease, kDatabase, name);
        Doc record;
        record.Str("_id", absl::StrCat(i, ":1")).Int64("owner", t);
        std::vector<const bson_t*> one = {record.get()};
        absl::StatusOr<std::vector<WriteError>> refused = c.InsertMany(one, "test: record");
        if (!refused.ok()) return refused.status();
        for (const WriteError& e : *refused) {
          if (e.code != kDuplicateKey) {
            return absl::InternalError(absl::StrCat("insert: ", e.message));
          }
        }
        return refused->empty();
      });
  EXPECT_EQ(doubles, 0) << "ids inserted by more than one of " << kThreads << " writers";
  Drop(*pools[0], name);
}

// The store's claim records as it writes them: one unordered insertMany of
// many records per claim. A record not named in the reply's write errors is
// taken as inserted by this writer; it must be, with this writer's owner.
TEST_P(MongoAtomicity, UnorderedInsertManyReportsEveryRefusedRecord) {
  POPQUEUE_REQUIRE_MONGODB(url);
  std::vector<std::unique_ptr<Pool>> pools = OpenPools(url);
  ASSERT_EQ(pools.size(), static_cast<size_t>(kThreads));
  const std::string name = FreshCollection("atomic_batch");
  {
    Pool::Lease lease(pools[0].get());
    Collection c(*pools[0], lease, kDatabase, name);
    ASSERT_TRUE(c.InsertOne(std::move(Doc().Str("_id", "seed")), "test: seed").ok());
  }
  constexpr int kBatch = 16;
  std::vector<std::atomic<int>> wins(kDocs), owner(kDocs);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> order(kDocs);
      for (int i = 0; i < kDocs; ++i) order[i] = i;
      std::mt19937 rng(t);
      std::shuffle(order.begin(), order.end(), rng);
      Pool& pool = *pools[t];
      for (int from = 0; from < kDocs; from += kBatch) {
        std::vector<Doc> records;
        std::vector<const bson_t*> ptrs;
        for (int k = from; k < std::min(kDocs, from + kBatch); ++k) {
          records.push_back(
              std::move(Doc().Str("_id", absl::StrCat(order[k], ":1")).Int64("owner", t)));
        }
        for (const Doc& r : records) ptrs.push_back(r.get());
        Pool::Lease lease(&pool);
        Collection c(pool, lease, kDatabase, name);
        absl::StatusOr<std::vector<WriteError>> refused = c.InsertMany(ptrs, "test: records");
        if (!refused.ok()) {
          if (errors++ == 0) ADD_FAILURE() << refused.status();
          return;
        }
        std::vector<bool> lost(ptrs.size(), false);
        for (const WriteError& e : *refused) {
          EXPECT_EQ(e.code, kDuplicateKey) << e.message;
          if (e.index < lost.size()) lost[e.index] = true;
        }
        for (size_t k = 0; k < ptrs.size(); ++k) {
          if (lost[k]) continue;
          ++wins[order[from + k]];
          owner[order[from + k]] = t;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_EQ(errors.load(), 0);
  int doubles = 0, unwon = 0, wrong_owner = 0;
  Pool::Lease lease(pools[0].get());
  Collection c(*pools[0], lease, kDatabase, name);
  absl::StatusOr<std::vector<BsonPtr>> stored = c.Find(Doc(), Doc(), "test: read records");
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::vector<int64_t> stored_owner(kDocs, -1);
  for (const BsonPtr& d : *stored) {
    const std::string id = GetStr(d.get(), "_id").value_or("");
    if (id == "seed") continue;
    stored_owner[std::stoi(id)] = GetInt64(d.get(), "owner").value_or(-1);
  }
  for (int i = 0; i < kDocs; ++i) {
    if (wins[i] > 1) ++doubles;
    if (wins[i] == 0) ++unwon;
    if (wins[i] == 1 && stored_owner[i] != owner[i]) ++wrong_owner;
  }
  EXPECT_EQ(doubles, 0) << "records more than one writer was told it inserted";
  EXPECT_EQ(unwon, 0) << "records every writer was told were refused";
  EXPECT_EQ(wrong_owner, 0) << "records whose stored owner is not the writer "
                               "told it inserted them";
  Drop(*pools[0], name);
}

// The store's candidate find: {ready: level} while other clients move the
// matches out of it ($unset ready, state running) and back. MongoDB returns
// only documents that match the filter as returned; every document a find
// returns here must still hold ready == "L".
TEST_P(MongoAtomicity, FindReturnsOnlyDocumentsMatchingItsFilter) {
  POPQUEUE_REQUIRE_MONGODB(url);
  std::vector<std::unique_ptr<Pool>> pools = OpenPools(url);
  ASSERT_EQ(pools.size(), static_cast<size_t>(kThreads));
  const std::string name = FreshCollection("atomic_find");
  constexpr int kFlipped = 64;
  {
    Pool::Lease lease(pools[0].get());
    Collection c(*pools[0], lease, kDatabase, name);
    std::vector<Doc> docs;
    for (int i = 0; i < kFlipped; ++i) {
      docs.push_back(std::move(Doc().Int64("_id", i).Str("state", "available").Str("ready", "L")));
    }
    std::vector<const bson_t*> ptrs;
    for (const Doc& d : docs) ptrs.push_back(d.get());
    ASSERT_TRUE(c.InsertMany(ptrs, "test: docs").ok());
    // Indexed, as the store's ready field is.
    std::vector<Doc> index;
    index.push_back(std::move(Doc().Sub("key", Doc().Int32("ready", 1)).Str("name", "ready_1")));
    ASSERT_TRUE(c.Command(std::move(Doc().Str("createIndexes", name).DocArray("indexes", index)),
                          "test: index")
                    .ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, mismatched{0}, finds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Pool& pool = *pools[t];
      std::mt19937 rng(t);
      for (int n = 0; n < 400 && !stop; ++n) {
        Pool::Lease lease(&pool);
        Collection c(pool, lease, kDatabase, name);
        if (t % 2 == 0) {
          // A writer: one document out of the level and back.
          const int i = static_cast<int>(rng() % kFlipped);
          absl::StatusOr<UpdateResult> out =
              c.UpdateOne(std::move(Doc().Int64("_id", i).Str("ready", "L")),
                          std::move(Doc()
                                        .Sub("$set", Doc().Str("state", "running"))
                                        .Sub("$unset", Doc().Str("ready", ""))),
                          false, "test: out");
          absl::StatusOr<UpdateResult> back = c.UpdateOne(
              std::move(Doc().Int64("_id", i).Str("state", "running")),
              std::move(Doc().Sub("$set", Doc().Str("state", "available").Str("ready", "L"))),
              false, "test: back");
          if ((!out.ok() || !back.ok()) && errors++ == 0) {
            ADD_FAILURE() << out.status() << " " << back.status();
          }
          continue;
        }
        absl::StatusOr<std::vector<BsonPtr>> found = c.Find(
            std::move(Doc().Str("ready", "L")), std::move(Doc().Int64("limit", 16)), "test: find");
        if (!found.ok()) {
          if (errors++ == 0) ADD_FAILURE() << found.status();
          return;
        }
        ++finds;
        for (const BsonPtr& d : *found) {
          if (GetStr(d.get(), "ready").value_or("") != "L") ++mismatched;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  Drop(*pools[0], name);
  // mongo-java-server 1.47 looks its index up and then reads each document
  // without testing the filter again, so a document moved out of the level
  // in between is returned as it now is. The store re-checks what it finds
  // (mongodb_claim.cc); on that server the count is reported and the test
  // skipped, saying so.
  if (mismatched > 0 && std::string(GetParam().name) == "mongojava") {
    GTEST_SKIP() << "mongo-java-server: " << mismatched.load() << " documents returned by "
                 << finds.load()
                 << " finds {ready: \"L\"} no longer matched it (known; "
                    "docs/mongodb.md)";
  }
  EXPECT_EQ(mismatched.load(), 0)
      << "documents returned by a find {ready: \"L\"} without ready == \"L\" (" << finds.load()
      << " finds)";
}

POPQUEUE_MONGODB_SERVERS(MongoAtomicity);

}  // namespace
}  // namespace popqueue::store::mongodb
