#include "store_conformance.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_format.h"

namespace popqueue::conformance {

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) { return info.param.name; }

ServerUrl ServerUrlFromEnv(const std::string& var) {
  ServerUrl out;
  const char* url = std::getenv(var.c_str());
  if (url != nullptr && *url != '\0') {
    out.url = url;
    return out;
  }
  const char* ci = std::getenv("CI");
  out.fail = ci != nullptr && std::string(ci) == "true";
  out.reason = out.fail ? absl::StrFormat(
                              "%s is not set, and CI=true: a CI run must test every "
                              "backend it builds; point %s at a disposable server",
                              var, var)
                        : absl::StrFormat(
                              "%s is not set; set it to a disposable server's URL "
                              "to run this backend's conformance tests",
                              var);
  return out;
}

void StoreConformanceTest::SetUp() {
  const Backend& backend = GetParam();
  std::string url;
  if (!backend.url_env.empty()) PQ_REQUIRE_SERVER_URL(backend.url_env, url);
  static std::atomic<int> counter{0};
  const std::string unique = absl::StrFormat("pq_%d_%d", static_cast<int>(getpid()), counter++);
  absl::StatusOr<FreshStore> fresh = backend.make(url, unique);
  ASSERT_TRUE(fresh.ok()) << "cannot make a fresh " << backend.name << " store: " << fresh.status();
  store_ = std::move(fresh->store);
  cleanup_ = std::move(fresh->cleanup);
}

void StoreConformanceTest::TearDown() {
  store_.reset();
  if (cleanup_) cleanup_();
}

store::NewJob StoreConformanceTest::Job(std::string queue, std::string name) {
  return store::NewJob{.id = NextId(),
                       .queue = std::move(queue),
                       .name = std::move(name),
                       .max_attempts = 3,
                       .run_at = kT0};
}

absl::StatusOr<EnqueueResult> StoreConformanceTest::Insert(const store::NewJob& job,
                                                           absl::Time now) {
  absl::StatusOr<store::JobInsertManyResult> r = db().JobInsertMany({.jobs = {job}, .now = now});
  if (!r.ok()) return r.status();
  if (r->size() != 1) {
    return absl::InternalError(
        absl::StrFormat("JobInsertMany returned %d results for 1 job", r->size()));
  }
  return r->front();
}

std::vector<JobId> StoreConformanceTest::InsertN(int n, const std::string& queue) {
  store::JobInsertManyParams params{.now = kT0};
  for (int i = 0; i < n; ++i) params.jobs.push_back(Job(queue));
  std::vector<JobId> ids;
  absl::StatusOr<store::JobInsertManyResult> r = db().JobInsertMany(params);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return ids;
  for (const EnqueueResult& e : *r) ids.push_back(e.id);
  return ids;
}

absl::StatusOr<std::vector<popqueue::Job>> StoreConformanceTest::Claim(
    std::vector<std::string> queues, int limit, absl::Time now, int64_t token, absl::Duration lease,
    const std::string& worker) {
  return db().JobClaim({.queues = std::move(queues),
                        .worker_id = worker,
                        .limit = limit,
                        .now = now,
                        .lease = lease,
                        .lease_token = token});
}

absl::StatusOr<popqueue::Job> StoreConformanceTest::Get(JobId id) {
  return db().JobGet({.id = id});
}

bool StoreConformanceTest::Complete(JobId id, int64_t token, absl::Time now,
                                    std::optional<std::string> result) {
  absl::StatusOr<store::JobIdList> done = db().JobCompleteMany(
      {.items = {{.id = id, .lease_token = token, .result = std::move(result)}}, .now = now});
  EXPECT_TRUE(done.ok()) << done.status();
  return done.ok() && done->size() == 1 && done->front() == id;
}

bool StoreConformanceTest::Fail(JobId id, int64_t token, JobState to, absl::Time run_at,
                                const std::string& error, absl::Time now) {
  absl::StatusOr<store::JobIdList> done = db().JobFailMany(
      {.items = {{.id = id, .lease_token = token, .to = to, .run_at = run_at, .error = error}},
       .now = now});
  EXPECT_TRUE(done.ok()) << done.status();
  return done.ok() && done->size() == 1 && done->front() == id;
}

std::vector<JobId> StoreConformanceTest::ListIds(const JobFilter& filter) {
  std::vector<JobId> ids;
  absl::StatusOr<JobPage> page = db().JobList({.filter = filter});
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return ids;
  for (const popqueue::Job& j : page->jobs) ids.push_back(j.id);
  return ids;
}

}  // namespace popqueue::conformance
