// The identifier reservations of the Redis store (the essay of
// redis_store.cc, redis_insert.cc) when a client stops between the two
// steps of an insert or a requeue, on a single node and on the test
// cluster. The "other client" runs the store's own scripts by hand, step by
// step, against the real server: what a process that died (or is slow)
// between its steps leaves behind. Also: data of layout version 1 is
// refused at open with a message naming the fix.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "store/redis/job_hash.h"
#include "store/redis/keys.h"
#include "store/redis/redis_store_impl.h"
#include "store/redis/scripts.h"
#include "tests/redis/redis_test_env.h"

namespace popqueue::testing {
namespace {

using store::redis_store::IdKey;
using store::redis_store::ProbeKey;
using store::redis_store::RedisStore;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

struct Server {
  std::string name;
  std::string (*url)();
};
std::ostream& operator<<(std::ostream& os, const Server& s) { return os << s.name; }

class RedisReservationTest : public ::testing::TestWithParam<Server> {
 protected:
  void SetUp() override {
    url_ = GetParam().url();
    if (url_.empty()) {
      if (EnvOr("CI") == "true") GTEST_FAIL() << GetParam().name << ": no URL (CI=true)";
      GTEST_SKIP() << "no " << GetParam().name << " URL: run through scripts/with-services";
    }
    collection_ = UniqueCollection("reserve");
    auto parsed = ParseUrl(url_);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto opened = RedisStore::Open(*parsed, {.url = url_, .collection = collection_});
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *opened;
  }
  void TearDown() override {
    if (store_ == nullptr) return;
    for (const std::string& key : KeysOf(store_->client(), collection_)) {
      (void)store_->client().Command({"UNLINK", key});
    }
  }

  bool cluster() const { return store_->client().cluster(); }

  // Runs one of the store's scripts in the slot of `tag`, as the store does.
  absl::StatusOr<redis::Reply> Script(const redis::Script& s, const std::string& tag,
                                      std::vector<std::string> args) {
    args.insert(args.begin(), store_->tag());
    return store_->client().Eval(s, {ProbeKey(tag)}, args);
  }

  store::NewJob Job(JobId id, const std::string& queue, const std::string& identifier) {
    return {.id = id,
            .queue = queue,
            .name = "n",
            .identifier = identifier,
            .max_attempts = 1,
            .run_at = kT0};
  }

  // Step one of another client's insert of `job`: the reservation (and the
  // directory entry). Returns the token.
  std::string ReserveByHand(const store::NewJob& job) {
    auto r =
        Script(scripts_.job_reserve, store_->tag(),
               {"0", "1", job.queue, IdKey(job.id), store_->QueueTag(job.queue), job.identifier});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->elements.size() != 3 || r->elements[1].str != "ok") {
      ADD_FAILURE() << "job_reserve.lua did not reserve";
      return "";
    }
    return absl::StrCat(r->elements[2].integer);
  }

  // Step two of that insert: the job in its queue's slot, under `token`.
  // Returns the job's state as the script reports it ('revoked' if refused).
  std::string InsertByHand(const store::NewJob& job, const std::string& token) {
    const std::string tag = store_->QueueTag(job.queue);
    std::vector<std::string> args = {store::redis_store::Micros(kT0), "0", "0", tag, job.queue};
    store::redis_store::AppendNewJobArgs(job, token, &args);
    auto r = Script(scripts_.job_insert_many, tag, args);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->elements.size() != 4) return "error";
    return r->elements[3].str;
  }

  std::vector<JobId> IdsWithIdentifier(const std::string& identifier) {
    std::vector<JobId> ids;
    auto page = store_->JobList({.filter = {.identifier = identifier}});
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const popqueue::Job& j : page->jobs) ids.push_back(j.id);
    }
    return ids;
  }

  std::string url_, collection_;
  std::shared_ptr<RedisStore> store_;
  store::redis_store::Scripts scripts_;
};

// A client reserved identifier "k" for job 10 and died before writing it:
// the next enqueue of "k" (on another queue) waits kInsertGrace for job 10
// (on a cluster; on a single node inserts are one step, so job 10 cannot be
// on its way), revokes it and inserts. Job 10's late second step is refused.
TEST_P(RedisReservationTest, AReservationWhoseInserterDiedIsTakenOver) {
  const store::NewJob dead = Job(10, "q", "k");
  const std::string token = ReserveByHand(dead);
  ASSERT_FALSE(token.empty());

  const absl::Time t0 = absl::Now();
  auto r = store_->JobInsertMany({.jobs = {Job(11, "other", "k")}, .now = kT0});
  const absl::Duration took = absl::Now() - t0;
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].inserted);
  EXPECT_EQ((*r)[0].id, 11);
  if (cluster()) {
    EXPECT_GE(took, RedisStore::kInsertGrace) << "did not wait for job 10";
  } else {
    EXPECT_LT(took, RedisStore::kInsertGrace);
  }
  EXPECT_EQ(InsertByHand(dead, token), "revoked");
  EXPECT_EQ(store_->JobGet({.id = 10}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(IdsWithIdentifier("k"), std::vector<JobId>{11});

  // Job 11 finished: its reservation is stale, the next "k" gets it at once.
  auto claimed = store_->JobClaim({.queues = {"other"},
                                   .worker_id = "w",
                                   .limit = 1,
                                   .now = kT0,
                                   .lease = absl::Seconds(30),
                                   .lease_token = 5});
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1u) << claimed.status();
  auto done = store_->JobCompleteMany({.items = {{.id = 11, .lease_token = 5}}, .now = kT0});
  ASSERT_TRUE(done.ok() && done->size() == 1u) << done.status();
  const absl::Time t1 = absl::Now();
  r = store_->JobInsertMany({.jobs = {Job(12, "q", "k")}, .now = kT0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[0].inserted);
  EXPECT_LT(absl::Now() - t1, RedisStore::kInsertGrace);
  EXPECT_EQ(IdsWithIdentifier("k"), (std::vector<JobId>{12, 11}));
}

// Another client took a fresh reservation to requeue dead job 20 and
// stopped before the requeue itself: an enqueue of the same identifier
// finds job 20 final, revokes that token and takes the identifier; the late
// requeue is refused, and so is a requeue through the store (job 21 holds
// the identifier).
TEST_P(RedisReservationTest, ARequeueUnderARevokedTokenIsRefused) {
  ASSERT_TRUE(store_->JobInsertMany({.jobs = {Job(20, "q", "r")}, .now = kT0}).ok());
  auto claimed = store_->JobClaim({.queues = {"q"},
                                   .worker_id = "w",
                                   .limit = 1,
                                   .now = kT0,
                                   .lease = absl::Seconds(30),
                                   .lease_token = 7});
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1u) << claimed.status();
  auto failed = store_->JobFailMany(
      {.items = {{.id = 20, .lease_token = 7, .to = JobState::kDead, .error = "x"}}, .now = kT0});
  ASSERT_TRUE(failed.ok() && failed->size() == 1u) << failed.status();

  const std::string q = store_->QueueTag("q");
  auto entry = store_->client().Command({"HGET", absl::StrCat(store_->tag(), ":uniq"), "r"});
  ASSERT_TRUE(entry.ok() && !entry->is_nil()) << entry.status();
  auto taken = Script(scripts_.job_uniq_take, store_->tag(), {"r", entry->str, IdKey(20), q});
  ASSERT_TRUE(taken.ok() && taken->elements.size() == 2u) << taken.status();
  ASSERT_EQ(taken->elements[0].str, "ok");
  const std::string token = absl::StrCat(taken->elements[1].integer);

  auto r = store_->JobInsertMany({.jobs = {Job(21, "other", "r")}, .now = kT0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[0].inserted);
  EXPECT_EQ((*r)[0].id, 21);

  auto late =
      Script(scripts_.job_requeue, q, {store::redis_store::Micros(kT0), "0", q, IdKey(20), token});
  ASSERT_TRUE(late.ok()) << late.status();
  ASSERT_FALSE(late->elements.empty());
  EXPECT_EQ(late->elements[0].str, "revoked");
  auto requeued = store_->JobRequeue({.id = 20, .now = kT0});
  EXPECT_EQ(requeued.status().code(), absl::StatusCode::kFailedPrecondition) << requeued.status();
  EXPECT_TRUE(absl::StrContains(requeued.status().message(), "job 21")) << requeued.status();
  auto got = store_->JobGet({.id = 20});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, JobState::kDead);
}

// Keys written by layout 1 (everything under "{<collection>}") are refused
// at open: kFailedPrecondition saying what and how to fix it.
TEST_P(RedisReservationTest, LayoutOneIsRefusedWithTheFix) {
  const std::string old = UniqueCollection("layout1");
  const std::string meta = absl::StrCat("{", old, "}:meta");
  ASSERT_TRUE(store_->client().Command({"HSET", meta, "version", "1"}).ok());
  auto opened =
      store::redis_store::RedisStore::Open(*ParseUrl(url_), {.url = url_, .collection = old});
  (void)store_->client().Command({"UNLINK", meta});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  for (const char* part : {"layout version 1", "does not convert", "redis-cli --scan --pattern",
                           "another collection"}) {
    EXPECT_TRUE(absl::StrContains(opened.status().message(), part))
        << part << " missing from: " << opened.status();
  }
}

// Layout 2 before 2026-12 kept a listing index Q:st:running; the first
// open by this version deletes it on every queue, once per collection.
TEST_P(RedisReservationTest, TheOldRunningIndexIsDroppedAtOpen) {
  store::JobInsertManyParams insert{.now = kT0};
  insert.jobs = {Job(31, "alpha", ""), Job(32, "beta", "")};
  ASSERT_TRUE(store_->JobInsertMany(insert).ok());
  std::vector<std::string> stale;
  for (const char* q : {"alpha", "beta"}) {
    stale.push_back(absl::StrCat(store::redis_store::QueueTag(collection_, q), ":st:running"));
    ASSERT_TRUE(store_->client().Command({"ZADD", stale.back(), "0", IdKey(31)}).ok());
  }
  const std::string meta = absl::StrCat(store_->tag(), ":meta");
  ASSERT_TRUE(store_->client().Command({"HDEL", meta, "st_running_dropped"}).ok());
  auto opened = RedisStore::Open(*ParseUrl(url_), {.url = url_, .collection = collection_});
  ASSERT_TRUE(opened.ok()) << opened.status();
  for (const std::string& key : stale) {
    auto exists = store_->client().Command({"EXISTS", key});
    ASSERT_TRUE(exists.ok()) << exists.status();
    EXPECT_EQ(exists->integer, 0) << key;
  }
  auto flag = store_->client().Command({"HGET", meta, "st_running_dropped"});
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->str, "1");
  // Once done, a later open leaves a key of that name alone.
  ASSERT_TRUE(store_->client().Command({"ZADD", stale[0], "0", IdKey(31)}).ok());
  ASSERT_TRUE(RedisStore::Open(*ParseUrl(url_), {.url = url_, .collection = collection_}).ok());
  EXPECT_EQ(store_->client().Command({"EXISTS", stale[0]})->integer, 1);
}

std::string SingleUrl() { return RedisUrl(); }
std::string ClusterUrl() { return RedisClusterUrl(); }

INSTANTIATE_TEST_SUITE_P(Servers, RedisReservationTest,
                         ::testing::Values(Server{"redis", &SingleUrl},
                                           Server{"redis_cluster", &ClusterUrl}),
                         [](const auto& info) { return info.param.name; });

// On a cluster an insert is two steps: one that finds the reservation of
// an insert still on its way waits for it rather than revoking it.
TEST(RedisReservationClusterTest, AnInsertOnItsWayIsWaitedFor) {
  POPQUEUE_REQUIRE_REDIS_CLUSTER();
  const std::string collection = UniqueCollection("onitsway");
  auto opened = RedisStore::Open(*ParseUrl(RedisClusterUrl()),
                                 {.url = RedisClusterUrl(), .collection = collection});
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<RedisStore> db = *opened;
  store::redis_store::Scripts scripts;
  auto run = [&](const redis::Script& s, const std::string& tag, std::vector<std::string> args) {
    args.insert(args.begin(), db->tag());
    return db->client().Eval(s, {ProbeKey(tag)}, args);
  };
  const store::NewJob first{
      .id = 30, .queue = "q", .name = "n", .identifier = "w", .max_attempts = 1, .run_at = kT0};
  auto reserved =
      run(scripts.job_reserve, db->tag(), {"0", "1", "q", IdKey(30), db->QueueTag("q"), "w"});
  ASSERT_TRUE(reserved.ok() && reserved->elements.size() == 3u) << reserved.status();
  const std::string token = absl::StrCat(reserved->elements[2].integer);

  absl::StatusOr<store::JobInsertManyResult> second;
  std::thread contender([&] {
    second = db->JobInsertMany({.jobs = {{.id = 31,
                                          .queue = "p",
                                          .name = "n",
                                          .identifier = "w",
                                          .max_attempts = 1,
                                          .run_at = kT0}},
                                .now = kT0});
  });
  absl::SleepFor(RedisStore::kInsertGrace / 5);
  std::vector<std::string> args = {store::redis_store::Micros(kT0), "0", "0", db->QueueTag("q"),
                                   "q"};
  store::redis_store::AppendNewJobArgs(first, token, &args);
  auto inserted = run(scripts.job_insert_many, db->QueueTag("q"), args);
  contender.join();
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(inserted->elements.size(), 4u);
  EXPECT_EQ(inserted->elements.back().str, "available") << "the first insert was refused";
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*second)[0].inserted);
  EXPECT_EQ((*second)[0].id, 30);
  EXPECT_EQ((*second)[0].state, JobState::kAvailable);
  EXPECT_EQ(db->JobGet({.id = 31}).status().code(), absl::StatusCode::kNotFound);
  for (const std::string& key : KeysOf(db->client(), collection)) {
    (void)db->client().Command({"UNLINK", key});
  }
}

}  // namespace
}  // namespace popqueue::testing
