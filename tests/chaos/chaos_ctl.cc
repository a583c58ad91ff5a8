// The controller of scripts/chaos: enqueues the planned jobs, waits for them
// to finish and checks the outcome against the plan (chaos_plan.h) and the
// record of handler starts written by chaos_worker.
//
//   chaos_ctl enqueue DB_URL COLLECTION JOBS
//   chaos_ctl wait    DB_URL COLLECTION JOBS TIMEOUT_SECONDS
//   chaos_ctl check   DB_URL COLLECTION JOBS START_LOG KILLED_PIDS [WORKER_LOG]
//
// check prints the counts and exits 0 only when every job is completed or
// dead exactly as its handler decided, none is lost, and every handler run
// beyond the plan belongs to a job that was in flight in a killed worker, or
// (with WORKER_LOG, the workers' stderr) whose handler a worker was told had
// lost its lease ("job <id>: lease lost ..."): one such line explains one
// extra run of that job.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "chaos_plan.h"
#include "popqueue/queue.h"

namespace {

namespace chaos = popqueue::chaos;
using popqueue::Job;
using popqueue::JobState;

std::unique_ptr<popqueue::Queue> Open(const char* url, const char* collection) {
  popqueue::QueueConfig config{
      .db_url = url, .collection = collection, .retries = chaos::kMaxAttempts - 1};
  // The database may be restarting: keep trying for a while.
  for (int i = 0;; ++i) {
    auto queue = popqueue::Queue::Open(config);
    if (queue.ok()) return std::move(*queue);
    if (i == 120) {
      std::fprintf(stderr, "chaos_ctl: %s\n", std::string(queue.status().message()).c_str());
      std::exit(1);
    }
    sleep(1);
  }
}

int Enqueue(popqueue::Queue& queue, int64_t jobs) {
  constexpr int64_t kBatch = 500;
  for (int64_t first = 0; first < jobs; first += kBatch) {
    std::vector<popqueue::EnqueueRequest> batch;
    for (int64_t i = first; i < std::min(jobs, first + kBatch); ++i) {
      popqueue::EnqueueOptions options{.identifier = chaos::Identifier(i),
                                       .max_attempts = chaos::kMaxAttempts,
                                       .backoff_base = absl::Milliseconds(50)};
      batch.push_back({.name = chaos::kJobName, .data = chaos::Payload(i), .options = options});
    }
    // Identifiers make a retried batch add nothing twice.
    for (int attempt = 0;; ++attempt) {
      auto r = queue.EnqueueMany(batch);
      if (r.ok()) break;
      if (attempt == 60) {
        std::fprintf(stderr, "chaos_ctl: enqueue: %s\n", std::string(r.status().message()).c_str());
        return 1;
      }
      sleep(1);
    }
  }
  std::printf("chaos: enqueued %lld jobs\n", static_cast<long long>(jobs));
  return 0;
}

int Wait(popqueue::Queue& queue, int64_t jobs, int timeout_seconds) {
  absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds);
  absl::Time next_report = absl::Now();
  while (true) {
    auto counts = queue.CountByState();
    if (counts.ok()) {
      std::map<JobState, int64_t> total;
      for (const auto& q : *counts) {
        for (const auto& [state, n] : q.by_state) total[state] += n;
      }
      int64_t finished = total[JobState::kCompleted] + total[JobState::kDead];
      if (absl::Now() >= next_report || finished >= jobs) {
        std::printf("chaos: %lld/%lld finished (available %lld, running %lld, retryable %lld)\n",
                    static_cast<long long>(finished), static_cast<long long>(jobs),
                    static_cast<long long>(total[JobState::kAvailable]),
                    static_cast<long long>(total[JobState::kRunning]),
                    static_cast<long long>(total[JobState::kRetryable]));
        std::fflush(stdout);
        next_report = absl::Now() + absl::Seconds(10);
      }
      if (finished >= jobs) return 0;
    }
    if (absl::Now() > deadline) {
      std::printf("chaos: timed out waiting for the jobs to finish\n");
      return 1;
    }
    usleep(500 * 1000);
  }
}

struct Start {
  long pid;
  int64_t job_id;
};

// Job id -> how many "job <id>: lease lost" lines the workers' logs have.
std::map<int64_t, int> LeaseLostLines(const char* path) {
  std::map<int64_t, int> out;
  if (path == nullptr) return out;
  std::ifstream in(path);
  std::string line;
  const std::string marker = ": lease lost";
  while (std::getline(in, line)) {
    size_t at = line.find(marker);
    size_t job = at == std::string::npos ? at : line.rfind("job ", at);
    if (job == std::string::npos) continue;
    const std::string digits = line.substr(job + 4, at - job - 4);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    ++out[std::atoll(digits.c_str())];
  }
  return out;
}

int Check(popqueue::Queue& queue, int64_t jobs, const char* log_path, const char* killed_path,
          const char* worker_log) {
  const std::map<int64_t, int> lease_lost = LeaseLostLines(worker_log);
  int64_t lease_lost_runs = 0;
  // Every job of the run, by index.
  std::map<int64_t, Job> by_index;
  int64_t stray = 0;
  popqueue::JobFilter filter{.name = chaos::kJobName, .limit = 1000};
  while (true) {
    auto page = queue.ListJobs(filter);
    if (!page.ok()) {
      std::fprintf(stderr, "chaos_ctl: list: %s\n", std::string(page.status().message()).c_str());
      return 1;
    }
    for (Job& job : page->jobs) {
      int64_t index = chaos::IndexOf(job.data);
      if (index < 0 || index >= jobs || by_index.count(index)) {
        ++stray;  // a job that was never enqueued, or enqueued twice
      } else {
        by_index.emplace(index, std::move(job));
      }
    }
    if (!page->next_before_id) break;
    filter.before_id = page->next_before_id;
  }
  std::set<long> killed;
  {
    std::ifstream in(killed_path);
    long pid;
    while (in >> pid) killed.insert(pid);
  }
  std::map<int64_t, std::vector<Start>> starts;  // by job index
  int64_t start_lines = 0;
  {
    std::ifstream in(log_path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      Start s;
      int64_t index;
      int attempt;
      if (!(fields >> s.pid >> s.job_id >> index >> attempt)) continue;
      ++start_lines;
      starts[index].push_back(s);
    }
  }

  int64_t completed = 0, dead = 0, lost = 0, wrong = 0, never_ran = 0;
  int64_t duplicated_jobs = 0, extra_runs = 0, explained_jobs = 0, unexplained_jobs = 0;
  std::vector<std::string> examples;
  auto example = [&](std::string text) {
    if (examples.size() < 10) examples.push_back(std::move(text));
  };
  for (int64_t i = 0; i < jobs; ++i) {
    chaos::Kind kind = chaos::KindOf(i);
    auto it = by_index.find(i);
    if (it == by_index.end()) {
      ++lost;
      example("job " + std::to_string(i) + ": missing from the store");
      continue;
    }
    const Job& job = it->second;
    if (job.state == JobState::kCompleted) {
      ++completed;
    } else if (job.state == JobState::kDead) {
      ++dead;
    } else {
      ++lost;
      example("job " + std::to_string(i) + " (" + std::to_string(job.id) + "): still " +
              std::string(popqueue::JobStateName(job.state)));
      continue;
    }
    const std::vector<Start>& runs = starts[i];
    if (runs.empty()) {
      ++never_ran;
      example("job " + std::to_string(i) + ": finished without a handler start");
    }
    if ((job.state == JobState::kCompleted) != chaos::ExpectCompleted(kind)) {
      ++wrong;
      std::string last_error = job.errors.empty() ? "" : job.errors.back().message;
      example("job " + std::to_string(i) + " (" + std::string(chaos::KindName(kind)) + ", id " +
              std::to_string(job.id) + "): " + std::string(popqueue::JobStateName(job.state)) +
              " after " + std::to_string(runs.size()) + " runs; last error: " + last_error);
    }
    int extra = static_cast<int>(runs.size()) - chaos::PlannedRuns(kind);
    if (extra > 0) {
      ++duplicated_jobs;
      extra_runs += extra;
      int in_killed = 0;
      for (const Start& s : runs) in_killed += killed.count(s.pid) ? 1 : 0;
      auto lost_it = lease_lost.find(job.id);
      const int lost_lease = lost_it == lease_lost.end() ? 0 : lost_it->second;
      if (in_killed < extra) lease_lost_runs += std::min(lost_lease, extra - in_killed);
      if (in_killed + lost_lease >= extra) {
        ++explained_jobs;
      } else {
        ++unexplained_jobs;
        example("job " + std::to_string(i) + " (" + std::string(chaos::KindName(kind)) + ", id " +
                std::to_string(job.id) + "): " + std::to_string(runs.size()) +
                " handler runs, plan needs at most " + std::to_string(chaos::PlannedRuns(kind)) +
                ", not explained by a kill or a lost lease");
      }
    }
  }
  bool pass = lost == 0 && wrong == 0 && stray == 0 && never_ran == 0 && unexplained_jobs == 0;
  std::printf(
      "chaos: jobs=%lld completed=%lld dead=%lld lost=%lld wrong_outcome=%lld stray=%lld "
      "finished_without_run=%lld\n"
      "chaos: handler_starts=%lld duplicated_jobs=%lld extra_runs=%lld "
      "in_flight_at_kill=%lld unexplained=%lld killed_workers=%zu lease_lost_runs=%lld\n",
      static_cast<long long>(jobs), static_cast<long long>(completed), static_cast<long long>(dead),
      static_cast<long long>(lost), static_cast<long long>(wrong), static_cast<long long>(stray),
      static_cast<long long>(never_ran), static_cast<long long>(start_lines),
      static_cast<long long>(duplicated_jobs), static_cast<long long>(extra_runs),
      static_cast<long long>(explained_jobs), static_cast<long long>(unexplained_jobs),
      killed.size(), static_cast<long long>(lease_lost_runs));
  for (const std::string& e : examples) std::printf("chaos:   %s\n", e.c_str());
  std::printf("chaos: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}

int Usage() {
  std::fprintf(stderr,
               "usage: chaos_ctl enqueue DB_URL COLLECTION JOBS\n"
               "       chaos_ctl wait DB_URL COLLECTION JOBS TIMEOUT_SECONDS\n"
               "       chaos_ctl check DB_URL COLLECTION JOBS START_LOG KILLED_PIDS "
               "[WORKER_LOG]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return Usage();
  std::string command = argv[1];
  int64_t jobs = std::atoll(argv[4]);
  if (jobs <= 0) return Usage();
  if (command == "enqueue" && argc == 5) return Enqueue(*Open(argv[2], argv[3]), jobs);
  if (command == "wait" && argc == 6)
    return Wait(*Open(argv[2], argv[3]), jobs, std::atoi(argv[5]));
  if (command == "check" && (argc == 7 || argc == 8)) {
    return Check(*Open(argv[2], argv[3]), jobs, argv[5], argv[6], argc == 8 ? argv[7] : nullptr);
  }
  return Usage();
}
