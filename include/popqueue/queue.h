// popqueue::Queue: define handlers, enqueue jobs, run workers, inspect and
// administer jobs. This is the whole library API; the server is a thin adapter
// over it.
//
//   popqueue::Queue queue("sqlite://./app.db", "", "app", "jobs", 3);
//   queue.Define("email", [](const popqueue::Job& job) { return Send(job.data); });
//   queue.Now(popqueue::Job{.data = "hi"}, "email", "welcome-42", std::time(nullptr));
//   queue.Start();  // blocks until Stop() or SIGINT/SIGTERM
//
// Thread-safety: every method may be called from any thread.
#ifndef POPQUEUE_QUEUE_H_
#define POPQUEUE_QUEUE_H_

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "popqueue/admin.h"
#include "popqueue/clock.h"
#include "popqueue/job.h"
#include "popqueue/options.h"
#include "popqueue/outcome.h"
#include "popqueue/workflow.h"

namespace popqueue {

// What a context-aware handler sees while it runs. Valid only during the call.
class JobContext {
 public:
  virtual ~JobContext() = default;
  virtual const Job& job() const = 0;
  // True once the job should stop: cancelled by Cancel(), past its timeout,
  // lease lost, or the process is shutting down near its drain deadline. The
  // attempt keeps its lease until the handler returns (no retry starts
  // beside it), so return promptly.
  virtual bool cancelled() const = 0;
  // Once cancelled(): the (real) time by which the handler must have
  // returned; past it the worker reports the handler overdue, and at
  // shutdown releases its job. InfiniteFuture() while not asked to stop.
  virtual absl::Time stop_deadline() const { return absl::InfiniteFuture(); }
  // Reports progress 0..100 (clamped); stored with the next heartbeat.
  virtual void SetProgress(int percent) = 0;
  // Sets the result string stored on completion.
  virtual void SetResult(std::string result) = 0;
  // The job's W3C trace context (its metadata's "traceparent"), "" if none:
  // continue the trace of whoever enqueued the job from here.
  std::string_view traceparent() const {
    auto it = job().metadata.find(std::string(kTraceparentKey));
    return it == job().metadata.end() ? std::string_view() : std::string_view(it->second);
  }
};

// The original API's handler: returns true on success. Throwing is a failure.
using Handler = std::function<bool(const Job&)>;
// The richer handler: OK on success; any other status is a failure whose
// message is kept on the job. kCancelled after ctx.cancelled() ends the job
// cancelled when Cancel() asked for it. Snooze(d), Discard(reason) and
// FailWithoutRetry(error) (popqueue/outcome.h) ask for the other outcomes.
using ContextHandler = std::function<absl::Status(JobContext&)>;

// What happened to a job in this process's workers; see Queue::OnEvent.
struct JobEvent {
  enum class Kind {
    kStarted,    // a handler began an attempt
    kCompleted,  // the attempt succeeded
    kRetrying,   // the attempt failed; the job is retryable at next_run_at
    kDead,       // the attempt failed and no attempts remain (dead-letter)
    kCancelled,  // the job ended cancelled
    kReleased,   // shutdown interrupted the attempt; the job is retryable now
    kSnoozed,    // the handler snoozed the job: scheduled at next_run_at, the
                 // attempt given back
  };
  Kind kind = Kind::kStarted;
  Job job;                 // as claimed (attempt is the attempt number)
  std::string error;       // for kRetrying, kDead, kCancelled, kReleased
  absl::Duration elapsed;  // handler run time, for finished attempts
  absl::Time next_run_at;  // for kRetrying and kSnoozed
};
std::string_view JobEventKindName(JobEvent::Kind kind);
// Called from worker threads; keep it quick and never throw.
using EventListener = std::function<void(const JobEvent&)>;

struct QueueConfig {
  std::string db_url = "sqlite://./popqueue.db";
  std::string cache_url;  // "" = no coordinator
  std::string db_name = "popqueue";
  std::string collection = "jobs";     // table / collection / key prefix
  int retries = 3;                     // extra attempts after the first failure
  size_t max_payload_bytes = 1 << 20;  // enqueue refuses larger data
  WorkerOptions worker;
  Clock* clock = nullptr;  // not owned; nullptr = real time
};

// What a recurring schedule does about fire times missed while no process
// that defines it was running.
enum class MissedFires {
  kSkip,     // forget them; the next fire is the next one after start
  kRunOnce,  // enqueue the most recent one within catch_up_window, once
};

// Options of Queue::Every.
struct EveryOptions {
  EnqueueOptions job;             // options of every job it enqueues
  std::string time_zone = "UTC";  // IANA zone the expression is read in
  MissedFires missed = MissedFires::kSkip;
  absl::Duration catch_up_window = absl::Hours(24);
  // The schedule's identity across processes; "" = "<name> <expression>".
  std::string schedule_id;
};

// A recurring schedule this process defined with Queue::Every (or that
// config.json's "schedules" declared), as Queue::Schedules lists it.
struct ScheduleInfo {
  std::string id;          // the identity across processes (schedule_id)
  std::string name;        // the job name it enqueues
  std::string expression;  // the cron expression as given
  std::string time_zone;   // IANA zone it is read in
  std::string queue;       // the queue of its jobs
  MissedFires missed = MissedFires::kSkip;
  // The next fire time after now; nullopt when it can never fire again.
  std::optional<absl::Time> next_fire;
};

// This process's worker concurrency at one moment (Queue::Concurrency).
struct ConcurrencyStats {
  int limit = 0;                    // jobs that may run at once now, across all queues
  int configured = 0;               // the cap from the options: max_concurrency, or the
                                    // sum of the per-queue limits
  int running = 0;                  // jobs running now
  int held = 0;                     // claimed jobs waiting for their job name's rate limit
  bool resource_aware = false;      // WorkerOptions::resource.enabled
  std::optional<LoadReading> load;  // the last reading, when resource-aware
  // Handlers still running after their timeout or a cancel asked them to
  // stop, and of those the ones past the hard limit (the stop request plus
  // WorkerOptions::stop_grace): their slots stay busy until they return.
  int stopping = 0;
  int overdue = 0;
  // Attempts that ran past their timeout or cancel, and the seconds they ran
  // beyond it in total (counted when the handler returned or was released).
  int64_t overruns = 0;
  double overrun_seconds = 0;
};

// One item of EnqueueMany.
struct EnqueueRequest {
  std::string name;
  std::string data;
  EnqueueOptions options;
};

class Queue {
 public:
  // The original README's constructor. Errors (bad URL, unreachable database)
  // are kept: status() returns them, and every other call returns them too.
  Queue(std::string db_url, std::string cache_url, std::string db_name, std::string collection,
        int retries);
  explicit Queue(QueueConfig config);
  // Like the constructor, but reports a failed open directly.
  static absl::StatusOr<std::unique_ptr<Queue>> Open(QueueConfig config);
  ~Queue();  // Stops workers (graceful) if running.

  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // OK when the queue opened its store; the open error otherwise.
  absl::Status status() const;
  const QueueConfig& config() const;

  // Registers the handler for jobs named `name`. Call before Start().
  absl::Status Define(std::string name, Handler handler);
  absl::Status Define(std::string name, ContextHandler handler);
  // Adds a listener for job events in this process's workers. Call before
  // Start().
  absl::Status OnEvent(EventListener listener);

  // The original API: enqueue `job.data` for handler `name`, unique by
  // `identifier` ("" = none), due at Unix time `score` (seconds; <= now runs
  // at once). job.queue and job.priority are honoured when set.
  absl::StatusOr<EnqueueResult> Now(const Job& job, std::string_view name,
                                    std::string_view identifier, std::time_t score);
  absl::StatusOr<EnqueueResult> Enqueue(std::string_view name, std::string data,
                                        const EnqueueOptions& options = {});
  // All-or-nothing: either every job is stored (or found as a duplicate) or
  // none is. Results are in request order.
  absl::StatusOr<std::vector<EnqueueResult>> EnqueueMany(std::vector<EnqueueRequest> requests);

  // Workflows and batches (docs/composition.md). EnqueueWorkflow stores every
  // job or none; InvalidArgument names the field (jobs[2].depends_on[0]: no
  // job with key "x"; a cycle; an identifier). A handler finds its parents
  // in job.parents and reads their results with GetJob.
  absl::StatusOr<WorkflowEnqueued> EnqueueWorkflow(std::vector<WorkflowStep> jobs);
  // Every job of workflow `id` with its state and edges; NotFound if none.
  absl::StatusOr<Workflow> GetWorkflow(JobId id);
  absl::StatusOr<BatchEnqueued> EnqueueBatch(BatchRequest batch);
  absl::StatusOr<BatchProgress> GetBatch(JobId id);

  // Enqueues a job named `name` with `data` at every fire time of the cron
  // expression (5 fields, 6 with seconds, or @hourly/@daily/...), exactly
  // once per fire time across every process that defines the same schedule.
  // Call before Start(); the schedule runs while workers run. InvalidArgument
  // points at the bad field of the expression or the unknown zone.
  absl::Status Every(std::string_view name, std::string_view cron_expression, std::string data = "",
                     EveryOptions options = {});

  // Runs workers for the configured queues until Stop() or SIGINT/SIGTERM,
  // then drains gracefully. Returns the reason it stopped (OK on Stop()).
  absl::Status Start();
  // Starts workers in background threads and returns at once.
  absl::Status StartInBackground();
  // Stops fetching, waits up to the shutdown deadline for in-flight jobs and
  // releases the rest for another attempt. Idempotent.
  void Stop();
  bool running() const;
  // Takes part in leader election and, while leader, runs the maintenance
  // services (rescuer of expired leases, cleaner) and the Every() schedules,
  // without running workers: for a process whose jobs run in remote workers
  // (`popqueue serve`). Stop() ends it; workers started later take over.
  absl::Status StartMaintenance();
  // Whether this process holds the maintenance leadership now.
  bool is_leader() const;
  // The schedules defined in this process by Every(), in definition order,
  // each with its next fire time. They fire while workers or the
  // maintenance run here (StartMaintenance).
  std::vector<ScheduleInfo> Schedules() const;
  // The concurrency of this process's workers now: the limit in force
  // (lowered under load when resource-aware), running and held jobs. All
  // zero while workers are not running.
  ConcurrencyStats Concurrency() const;

  // The worker registry (the store's, or the coordinator's when configured).
  absl::Status RegisterWorker();
  absl::Status DeregisterWorker();
  // Returns jobs whose lease expired (dead or partitioned workers) to
  // available/retryable, or dead when attempts are exhausted. Returns how many.
  absl::StatusOr<int> RedistributeJobs();
  std::string worker_id() const;

  // Read API.
  absl::StatusOr<Job> GetJob(JobId id);
  absl::StatusOr<JobPage> ListJobs(const JobFilter& filter);
  absl::StatusOr<std::vector<QueueCounts>> CountByState();
  absl::StatusOr<std::vector<QueueInfo>> ListQueues();
  // Per queue, in order: the run_at of its longest-due job (available,
  // scheduled or retryable with run_at <= now), nullopt when none is due.
  // Index-served on every store (no scan of jobs): the queue-lag figure.
  absl::StatusOr<std::vector<std::optional<absl::Time>>> OldestDue(
      const std::vector<std::string>& queues);
  absl::StatusOr<std::vector<WorkerInfo>> ListWorkers();

  // Admin API.
  // Moves a dead, cancelled, completed or retryable job back to available with
  // a fresh attempt budget. FailedPrecondition for scheduled/available/running
  // jobs, NotFound for unknown ids.
  absl::StatusOr<Job> Requeue(JobId id);
  // Cancels a scheduled, available or retryable job at once; a running job is
  // asked to stop (its context reports cancelled()) and ends cancelled.
  // FailedPrecondition for finished jobs.
  absl::StatusOr<Job> Cancel(JobId id);
  // Deletes a job that is not running. FailedPrecondition when running.
  absl::Status Delete(JobId id);
  absl::Status PauseQueue(std::string_view queue);
  absl::Status ResumeQueue(std::string_view queue);

  class Impl;

 private:
  friend class RemoteWorkerApi;  // popqueue/remote_worker.h: store-level worker calls
  std::unique_ptr<Impl> impl_;
};

}  // namespace popqueue

#endif  // POPQUEUE_QUEUE_H_
