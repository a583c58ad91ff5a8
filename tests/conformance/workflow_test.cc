// Conformance: workflows (docs/composition.md). Jobs inserted together with
// dependency edges: a job waits (scheduled, run_at kWaitingForParents) until
// every parent is done; a parent ending dead or cancelled cancels its
// dependants transitively unless the edge is ignore_failure; the step is
// part of the parent's completion, failure, rescue or cancel.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/field_error.h"
#include "common/job_json.h"
#include "store_conformance.h"

namespace popqueue::conformance {
namespace {

using store::WorkflowInsertParams;
using store::WorkflowJob;
using store::WorkflowParent;

class Wf {
 public:
  Wf() { params.now = kT0; }
  // Adds a job; returns its index.
  int Add(store::NewJob job, std::vector<WorkflowParent> deps = {}) {
    params.jobs.push_back(WorkflowJob{.job = std::move(job), .depends_on = std::move(deps)});
    params.workflow_id = params.jobs[0].job.id;
    return static_cast<int>(params.jobs.size()) - 1;
  }
  JobId Id(int index) const { return params.jobs[index].job.id; }
  WorkflowInsertParams params;
};

std::map<JobId, popqueue::Job> ById(const Workflow& wf) {
  std::map<JobId, popqueue::Job> out;
  for (const popqueue::Job& j : wf.jobs) out[j.id] = j;
  return out;
}

}  // namespace

TEST_P(StoreConformanceTest, WorkflowInsertStoresEdgesAndOnlyRootsAreClaimable) {
  Wf wf;
  const int a = wf.Add(Job());
  const int b = wf.Add(Job(), {{.index = a}});
  const int c = wf.Add(Job(), {{.index = a, .ignore_failure = true}});
  const int d = wf.Add(Job(), {{.index = b}, {.index = c}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));

  PQ_ASSERT_OK_AND_ASSIGN(Workflow got, db().WorkflowGet({.workflow_id = wf.Id(0)}));
  EXPECT_EQ(got.id, wf.Id(0));
  ASSERT_EQ(got.jobs.size(), 4u);
  for (size_t i = 1; i < got.jobs.size(); ++i) EXPECT_LT(got.jobs[i - 1].id, got.jobs[i].id);
  auto jobs = ById(got);
  EXPECT_EQ(jobs[wf.Id(a)].state, JobState::kAvailable);
  EXPECT_EQ(jobs[wf.Id(a)].workflow_id, wf.Id(0));
  EXPECT_TRUE(jobs[wf.Id(a)].parents.empty());
  EXPECT_EQ(jobs[wf.Id(a)].dependants,
            (std::vector<JobEdge>{{.id = wf.Id(b)}, {.id = wf.Id(c), .ignore_failure = true}}));
  EXPECT_EQ(jobs[wf.Id(b)].state, JobState::kScheduled);
  EXPECT_EQ(jobs[wf.Id(b)].run_at, kWaitingForParents);
  EXPECT_EQ(jobs[wf.Id(b)].waiting_parents, 1);
  EXPECT_EQ(jobs[wf.Id(c)].parents,
            (std::vector<JobEdge>{{.id = wf.Id(a), .ignore_failure = true}}));
  EXPECT_EQ(jobs[wf.Id(d)].waiting_parents, 2);
  EXPECT_EQ(jobs[wf.Id(d)].parents, (std::vector<JobEdge>{{.id = wf.Id(b)}, {.id = wf.Id(c)}}));
  EXPECT_TRUE(jobs[wf.Id(d)].dependants.empty());

  // JobGet shows the same fields.
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job one, Get(wf.Id(d)));
  EXPECT_EQ(one.workflow_id, wf.Id(0));
  EXPECT_EQ(one.waiting_parents, 2);

  // Even far in the future only the root is claimable.
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0 + absl::Hours(24 * 365 * 100)));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, wf.Id(a));
  EXPECT_EQ(claimed[0].dependants.size(), 2u);
}

TEST_P(StoreConformanceTest, WorkflowJobsKeepTheirMetadata) {
  Wf wf;
  store::NewJob root = Job();
  root.metadata = EncodeMetadata({{"traceparent",
                                   "00-0af7651916cd43dd8448eb211c80319c-"
                                   "b7ad6b7169203331-01"}});
  const int a = wf.Add(root);
  const int b = wf.Add(Job(), {{.index = a}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));
  PQ_ASSERT_OK_AND_ASSIGN(Workflow got, db().WorkflowGet({.workflow_id = wf.Id(0)}));
  auto jobs = ById(got);
  EXPECT_EQ(jobs[wf.Id(a)].metadata.at("traceparent"),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_TRUE(jobs[wf.Id(b)].metadata.empty());
}

TEST_P(StoreConformanceTest, WorkflowCompletionReleasesDependantsWhenAllParentsAreDone) {
  Wf wf;
  const int a = wf.Add(Job());
  const int b = wf.Add(Job(), {{.index = a}});
  const int c = wf.Add(Job(), {{.index = a}});
  const int d = wf.Add(Job(), {{.index = b}, {.index = c}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));

  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0, 7));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(
      auto done,
      db().JobCompleteMany(
          {.items = {{.id = wf.Id(a), .lease_token = 7, .result = "ra", .has_dependants = true}},
           .now = kT0 + absl::Seconds(1)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jb, Get(wf.Id(b)));
  EXPECT_EQ(jb.state, JobState::kAvailable);
  EXPECT_EQ(jb.waiting_parents, 0);
  EXPECT_EQ(jb.run_at, kT0 + absl::Seconds(1));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jd, Get(wf.Id(d)));
  EXPECT_EQ(jd.state, JobState::kScheduled);

  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, kT0 + absl::Seconds(2), 8));
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].parents, (std::vector<JobEdge>{{.id = wf.Id(a)}}));
  // A handler reads its parents' results by id.
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job parent, Get(claimed[0].parents[0].id));
  EXPECT_EQ(parent.result, "ra");

  PQ_ASSERT_OK_AND_ASSIGN(
      done,
      db().JobCompleteMany({.items = {{.id = wf.Id(b), .lease_token = 8, .has_dependants = true}},
                            .now = kT0 + absl::Seconds(3)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(jd, Get(wf.Id(d)));
  EXPECT_EQ(jd.state, JobState::kScheduled);
  EXPECT_EQ(jd.waiting_parents, 1);
  PQ_ASSERT_OK_AND_ASSIGN(auto none, Claim({"default"}, 10, kT0 + absl::Seconds(3), 9));
  EXPECT_TRUE(none.empty());

  PQ_ASSERT_OK_AND_ASSIGN(
      done,
      db().JobCompleteMany({.items = {{.id = wf.Id(c), .lease_token = 8, .has_dependants = true}},
                            .now = kT0 + absl::Seconds(4)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(jd, Get(wf.Id(d)));
  EXPECT_EQ(jd.state, JobState::kAvailable);
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, kT0 + absl::Seconds(5), 10));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, wf.Id(d));
  EXPECT_TRUE(Complete(wf.Id(d), 10, kT0 + absl::Seconds(6)));
}

TEST_P(StoreConformanceTest, WorkflowDeadParentCancelsDependantsTransitivelyUnlessIgnored) {
  Wf wf;
  const int a = wf.Add(Job());
  const int b = wf.Add(Job(), {{.index = a}});
  const int c = wf.Add(Job(), {{.index = b}});
  const int d = wf.Add(Job(), {{.index = b, .ignore_failure = true}});  // runs anyway
  const int e = wf.Add(Job(), {{.index = a, .ignore_failure = true}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));

  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0, 7));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(auto done, db().JobFailMany({.items = {{.id = wf.Id(a),
                                                                  .lease_token = 7,
                                                                  .to = JobState::kDead,
                                                                  .run_at = kT0,
                                                                  .error = "boom",
                                                                  .has_dependants = true}},
                                                       .now = kT0 + absl::Seconds(1)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(Workflow got, db().WorkflowGet({.workflow_id = wf.Id(0)}));
  auto jobs = ById(got);
  EXPECT_EQ(jobs[wf.Id(a)].state, JobState::kDead);
  EXPECT_EQ(jobs[wf.Id(b)].state, JobState::kCancelled);
  EXPECT_EQ(jobs[wf.Id(b)].finished_at, kT0 + absl::Seconds(1));
  ASSERT_EQ(jobs[wf.Id(b)].errors.size(), 1u);
  EXPECT_TRUE(absl::StrContains(jobs[wf.Id(b)].errors[0].message, std::to_string(wf.Id(a))))
      << jobs[wf.Id(b)].errors[0].message;
  EXPECT_EQ(jobs[wf.Id(c)].state, JobState::kCancelled);
  // b ended cancelled; d's edge from b runs anyway.
  EXPECT_EQ(jobs[wf.Id(d)].state, JobState::kAvailable);
  EXPECT_EQ(jobs[wf.Id(e)].state, JobState::kAvailable);
  // A retryable failure changes nothing downstream.
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, kT0 + absl::Seconds(2), 8));
  EXPECT_EQ(claimed.size(), 2u);
}

TEST_P(StoreConformanceTest, WorkflowRetryableFailureKeepsDependantsWaiting) {
  Wf wf;
  store::NewJob root = Job();
  root.max_attempts = 3;
  const int a = wf.Add(root);
  const int b = wf.Add(Job(), {{.index = a}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0, 7));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(auto done, db().JobFailMany({.items = {{.id = wf.Id(a),
                                                                  .lease_token = 7,
                                                                  .to = JobState::kRetryable,
                                                                  .run_at = kT0 + absl::Seconds(5),
                                                                  .error = "again",
                                                                  .has_dependants = true}},
                                                       .now = kT0 + absl::Seconds(1)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jb, Get(wf.Id(b)));
  EXPECT_EQ(jb.state, JobState::kScheduled);
  EXPECT_EQ(jb.waiting_parents, 1);
}

TEST_P(StoreConformanceTest, WorkflowRescuedDeadParentCancelsDependants) {
  Wf wf;
  store::NewJob root = Job();
  root.max_attempts = 1;  // the rescue makes it dead
  const int a = wf.Add(root);
  const int b = wf.Add(Job(), {{.index = a}});
  const int c = wf.Add(Job(), {{.index = a, .ignore_failure = true}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0, 7, absl::Seconds(10)));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(store::JobRescueExpiredResult rescued,
                          db().JobRescueExpired({.now = kT0 + absl::Seconds(11)}));
  // Only the job the rescue moved is named, not the dependants it cancelled.
  EXPECT_THAT(rescued,
              ::testing::ElementsAre(store::RescuedJob{.id = wf.Id(a), .to = JobState::kDead}));
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job ja, Get(wf.Id(a)));
  EXPECT_EQ(ja.state, JobState::kDead);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jb, Get(wf.Id(b)));
  EXPECT_EQ(jb.state, JobState::kCancelled);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jc, Get(wf.Id(c)));
  EXPECT_EQ(jc.state, JobState::kAvailable);
}

TEST_P(StoreConformanceTest, WorkflowCancelledParentCancelsDependants) {
  Wf wf;
  const int a = wf.Add(Job());
  const int b = wf.Add(Job(), {{.index = a}});
  const int c = wf.Add(Job(), {{.index = b}});
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));
  // Cancelling a waiting job cancels what waits for it, not its parent.
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jb, db().JobCancel({.id = wf.Id(b), .now = kT0}));
  EXPECT_EQ(jb.state, JobState::kCancelled);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job jc, Get(wf.Id(c)));
  EXPECT_EQ(jc.state, JobState::kCancelled);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job ja, Get(wf.Id(a)));
  EXPECT_EQ(ja.state, JobState::kAvailable);
  // The parent's later completion leaves the cancelled dependant alone.
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0, 7));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(
      auto done,
      db().JobCompleteMany({.items = {{.id = wf.Id(a), .lease_token = 7, .has_dependants = true}},
                            .now = kT0 + absl::Seconds(1)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(jb, Get(wf.Id(b)));
  EXPECT_EQ(jb.state, JobState::kCancelled);
}

TEST_P(StoreConformanceTest, WorkflowCallbackWaitsForEveryMemberOfABatch) {
  // A batch: members without edges, an on_complete callback over
  // ignore_failure edges and an on_success callback over normal ones.
  Wf wf;
  std::vector<WorkflowParent> all, all_ignoring;
  for (int i = 0; i < 3; ++i) {
    const int m = wf.Add(Job("default", "member"));
    all.push_back({.index = m});
    all_ignoring.push_back({.index = m, .ignore_failure = true});
  }
  const int on_complete = wf.Add(Job("default", "on_complete"), all_ignoring);
  const int on_success = wf.Add(Job("default", "on_success"), all);
  PQ_ASSERT_OK(db().WorkflowInsert(wf.params));
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10, kT0, 7));
  ASSERT_EQ(claimed.size(), 3u);
  PQ_ASSERT_OK_AND_ASSIGN(
      auto done, db().JobCompleteMany(
                     {.items = {{.id = claimed[0].id, .lease_token = 7, .has_dependants = true},
                                {.id = claimed[1].id, .lease_token = 7, .has_dependants = true}},
                      .now = kT0 + absl::Seconds(1)}));
  ASSERT_EQ(done.size(), 2u);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job cb, Get(wf.Id(on_complete)));
  EXPECT_EQ(cb.state, JobState::kScheduled);
  EXPECT_EQ(cb.waiting_parents, 1);
  PQ_ASSERT_OK_AND_ASSIGN(done, db().JobFailMany({.items = {{.id = claimed[2].id,
                                                             .lease_token = 7,
                                                             .to = JobState::kDead,
                                                             .run_at = kT0,
                                                             .error = "x",
                                                             .has_dependants = true}},
                                                  .now = kT0 + absl::Seconds(2)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(cb, Get(wf.Id(on_complete)));
  EXPECT_EQ(cb.state, JobState::kAvailable);
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job cs, Get(wf.Id(on_success)));
  EXPECT_EQ(cs.state, JobState::kCancelled);
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"default"}, 10, kT0 + absl::Seconds(3), 8));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].name, "on_complete");
}

TEST_P(StoreConformanceTest, WorkflowInsertRefusesBadGraphsNamingTheField) {
  std::vector<JobId> refused;
  {
    Wf wf;
    const int a = wf.Add(Job());
    refused.push_back(wf.Id(0));
    const int b = wf.Add(Job(), {{.index = a}});
    wf.params.jobs[a].depends_on.push_back({.index = b});
    absl::Status s = db().WorkflowInsert(wf.params);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "cycle")) << s;
    EXPECT_TRUE(absl::StartsWith(ErrorField(s), "jobs[")) << s;
  }
  {
    Wf wf;
    wf.Add(Job());
    refused.push_back(wf.Id(0));
    wf.Add(Job(), {{.index = 0}, {.index = 5}});
    absl::Status s = db().WorkflowInsert(wf.params);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(ErrorField(s), "jobs[1].depends_on[1]") << s;
  }
  {
    Wf wf;
    store::NewJob unique = Job();
    unique.identifier = "u";
    wf.Add(unique);
    refused.push_back(wf.Id(0));
    absl::Status s = db().WorkflowInsert(wf.params);
    EXPECT_EQ(ErrorField(s), "jobs[0].identifier") << s;
  }
  {
    Wf wf;
    wf.Add(Job());
    refused.push_back(wf.Id(0));
    wf.Add(Job(), {{.index = 1}});
    EXPECT_EQ(ErrorField(db().WorkflowInsert(wf.params)), "jobs[1].depends_on[0]");
  }
  // Nothing of the refused workflows was stored.
  for (JobId id : refused) {
    EXPECT_EQ(db().WorkflowGet({.workflow_id = id}).status().code(), absl::StatusCode::kNotFound);
  }
}

TEST_P(StoreConformanceTest, WorkflowInsertIsAllOrNothing) {
  store::NewJob taken = Job();
  PQ_ASSERT_OK(Insert(taken));
  Wf wf;
  const int a = wf.Add(Job());
  wf.Add(Job(), {{.index = a}});
  store::NewJob dup = Job();
  dup.id = taken.id;
  wf.Add(dup, {{.index = a}});
  absl::Status s = db().WorkflowInsert(wf.params);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_EQ(db().WorkflowGet({.workflow_id = wf.Id(0)}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(wf.Id(a)).status().code(), absl::StatusCode::kNotFound);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"default"}, 10));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, taken.id);
}

TEST_P(StoreConformanceTest, WorkflowAcrossQueuesOrTheStoreSaysNo) {
  Wf wf;
  const int a = wf.Add(Job("q1"));
  const int b = wf.Add(Job("q2"), {{.index = a}});
  absl::Status s = db().WorkflowInsert(wf.params);
  if (!db().SupportsCrossQueueWorkflows()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(ErrorField(s), "jobs[1].queue") << s;
    return;
  }
  PQ_ASSERT_OK(s);
  PQ_ASSERT_OK_AND_ASSIGN(auto claimed, Claim({"q1", "q2"}, 10, kT0, 7));
  ASSERT_EQ(claimed.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(
      auto done,
      db().JobCompleteMany({.items = {{.id = wf.Id(a), .lease_token = 7, .has_dependants = true}},
                            .now = kT0 + absl::Seconds(1)}));
  ASSERT_EQ(done.size(), 1u);
  PQ_ASSERT_OK_AND_ASSIGN(claimed, Claim({"q2"}, 10, kT0 + absl::Seconds(1), 8));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, wf.Id(b));
}

TEST_P(StoreConformanceTest, WorkflowGetUnknownIsNotFound) {
  EXPECT_EQ(db().WorkflowGet({.workflow_id = 4242}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(db().WorkflowGet({.workflow_id = 0}).status().code(), absl::StatusCode::kNotFound);
  // A plain job belongs to no workflow.
  PQ_ASSERT_OK_AND_ASSIGN(popqueue::Job j, Get(InsertN(1)[0]));
  EXPECT_EQ(j.workflow_id, 0);
  EXPECT_TRUE(j.parents.empty());
  EXPECT_TRUE(j.dependants.empty());
  EXPECT_EQ(j.waiting_parents, 0);
}

}  // namespace popqueue::conformance
