#include "cli/demo.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/common.h"
#include "common/mutex.h"
#include "common/thread.h"

namespace popqueue::cli {

void ConfigureDemo(QueueConfig& config) {
  config.retries = 2;  // the failing job dies after 3 attempts
  WorkerOptions& w = config.worker;
  for (const char* q : {kDemoQueue, kDemoPriorityQueue}) {
    if (std::find(w.queues.begin(), w.queues.end(), q) == w.queues.end()) {
      w.queues.push_back(q);
    }
  }
  w.concurrency[kDemoPriorityQueue] = 1;
  w.poll_interval = absl::Milliseconds(100);
  w.retry.base = absl::Milliseconds(200);
  w.retry.cap = absl::Seconds(2);
  w.rescue_interval = absl::Seconds(1);
  w.shutdown_deadline = absl::Seconds(5);
}

namespace {

// Serializes output lines from handler threads and the watcher, stamped with
// the time since the demo started.
class Printer {
 public:
  Printer() : start_(absl::Now()) {}

  void Line(std::string_view event, JobId id, std::string_view name, const std::string& detail) {
    double secs = absl::ToDoubleSeconds(absl::Now() - start_);
    MutexLock lock(&mu_);
    std::printf("[%6.2fs] %-9s %lld %-18s %s\n", secs, std::string(event).c_str(),
                static_cast<long long>(id), Printable(name, 30).c_str(), detail.c_str());
    std::fflush(stdout);
  }

  void Text(const std::string& text) {
    MutexLock lock(&mu_);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }

  // "+1.25s" relative to now, for due times.
  static std::string FromNow(absl::Time t) {
    return absl::StrFormat("+%.2fs", std::max(0.0, absl::ToDoubleSeconds(t - absl::Now())));
  }

 private:
  const absl::Time start_;
  Mutex mu_;
};

// Sleeps `d` in small steps; false when the job was asked to stop meanwhile.
bool SleepUnlessCancelled(JobContext& ctx, absl::Duration d) {
  absl::Time end = absl::Now() + d;
  while (absl::Now() < end) {
    if (ctx.cancelled()) return false;
    absl::SleepFor(std::min(absl::Milliseconds(50), end - absl::Now()));
  }
  return !ctx.cancelled();
}

using Body = std::function<absl::Status(JobContext&)>;

// Prints what the workers do, as they do it.
EventListener PrintEvents(std::shared_ptr<Printer> printer) {
  return [printer](const JobEvent& e) {
    const Job& job = e.job;
    std::string took = e.elapsed < absl::Milliseconds(1)
                           ? "<1ms"
                           : absl::FormatDuration(absl::Trunc(e.elapsed, absl::Milliseconds(1)));
    std::string error = Printable(e.error, 100);
    switch (e.kind) {
      case JobEvent::Kind::kStarted:
        printer->Line("start", job.id, job.name,
                      absl::StrFormat("attempt %d/%d  queue=%s priority=%d", job.attempt,
                                      job.max_attempts, Printable(job.queue, 20), job.priority));
        break;
      case JobEvent::Kind::kCompleted:
        printer->Line("completed", job.id, job.name, "in " + took);
        break;
      case JobEvent::Kind::kRetrying:
        printer->Line("retrying", job.id, job.name,
                      absl::StrFormat("attempt %d/%d failed after %s: %s; "
                                      "next try %s",
                                      job.attempt, job.max_attempts, took, error,
                                      Printer::FromNow(e.next_run_at)));
        break;
      case JobEvent::Kind::kDead:
        printer->Line("dead", job.id, job.name,
                      absl::StrFormat("attempt %d/%d failed: %s; no attempts "
                                      "left: in the dead-letter queue",
                                      job.attempt, job.max_attempts, error));
        break;
      case JobEvent::Kind::kCancelled: printer->Line("cancelled", job.id, job.name, error); break;
      case JobEvent::Kind::kReleased:
        printer->Line("released", job.id, job.name, "interrupted by shutdown: " + error);
        break;
      case JobEvent::Kind::kSnoozed:
        printer->Line("snoozed", job.id, job.name,
                      "runs again " + Printer::FromNow(e.next_run_at) + " (attempt given back)");
        break;
    }
  };
}

Body Sleeper(absl::Duration d, std::string result) {
  return [d, result](JobContext& ctx) {
    if (!SleepUnlessCancelled(ctx, d)) {
      return absl::CancelledError("stopped before finishing");
    }
    ctx.SetResult(result);
    return absl::OkStatus();
  };
}

absl::Status DefineHandlers(Queue& queue, std::shared_ptr<Printer> p) {
  struct Def {
    const char* name;
    Body body;
  };
  std::vector<Def> defs;
  defs.push_back({"demo.hello", Sleeper(absl::Milliseconds(200), "said hello")});
  defs.push_back({"demo.delayed", Sleeper(absl::Milliseconds(100), "ran late")});
  defs.push_back({"demo.batch", Sleeper(absl::Milliseconds(300), "batch item")});
  defs.push_back({"demo.urgent", Sleeper(absl::Milliseconds(300), "urgent")});
  defs.push_back({"demo.flaky", [](JobContext& ctx) -> absl::Status {
                    if (ctx.job().attempt <= 1) {
                      return absl::UnavailableError("simulated transient error (first attempt)");
                    }
                    ctx.SetResult("worked on retry");
                    return absl::OkStatus();
                  }});
  defs.push_back({"demo.always-fails", [](JobContext&) -> absl::Status {
                    return absl::UnavailableError("simulated outage: payment gateway unreachable");
                  }});
  defs.push_back({"demo.slow", [p](JobContext& ctx) -> absl::Status {
                    for (int step = 1; step <= 10; ++step) {
                      if (!SleepUnlessCancelled(ctx, absl::Milliseconds(300))) {
                        return absl::CancelledError("stopped early");
                      }
                      ctx.SetProgress(step * 10);
                      if (step == 5) {
                        p->Line("progress", ctx.job().id, ctx.job().name, "50%");
                      }
                    }
                    ctx.SetResult("slow work done");
                    return absl::OkStatus();
                  }});
  for (Def& d : defs) {
    if (absl::Status s = queue.Define(d.name, std::move(d.body)); !s.ok()) {
      return s;
    }
  }
  return queue.OnEvent(PrintEvents(p));
}

struct Tracked {
  std::string name;
  JobState state;
};

// Enqueues the sample jobs; fills `tracked` with what to watch.
absl::Status EnqueueSamples(Queue& queue, Printer& p, std::map<JobId, Tracked>& tracked) {
  auto note = [&](const EnqueueResult& r, std::string_view name, const std::string& detail) {
    tracked[r.id] = Tracked{std::string(name), r.state};
    p.Line("enqueued", r.id, name, detail);
  };
  p.Text("Enqueueing the demo jobs:\n");

  // The original API: Now(job, name, identifier, score).
  std::string identifier = absl::StrFormat("demo-hello-%d", absl::ToUnixMillis(absl::Now()));
  absl::StatusOr<EnqueueResult> r = queue.Now(Job{.queue = kDemoQueue, .data = R"({"to":"world"})"},
                                              "demo.hello", identifier, std::time(nullptr));
  if (!r.ok()) return r.status();
  note(*r, "demo.hello", "immediate, identifier " + identifier);
  r = queue.Now(Job{.queue = kDemoQueue, .data = R"({"to":"world"})"}, "demo.hello", identifier,
                std::time(nullptr));
  if (!r.ok()) return r.status();
  p.Line("enqueued", r->id, "demo.hello",
         r->inserted ? "UNEXPECTED: same identifier inserted twice"
                     : "same identifier again: duplicate, nothing added");

  r = queue.Enqueue("demo.delayed", R"({"report":"daily"})",
                    {.queue = kDemoQueue, .delay = absl::Seconds(3)});
  if (!r.ok()) return r.status();
  note(*r, "demo.delayed", "delayed 3s (state scheduled)");

  for (int i = 1; i <= 3; ++i) {
    r = queue.Enqueue("demo.batch", absl::StrFormat(R"({"item":%d})", i),
                      {.queue = kDemoPriorityQueue, .priority = 10});
    if (!r.ok()) return r.status();
    note(*r, "demo.batch", absl::StrFormat("queue %s, priority 10 (low)", kDemoPriorityQueue));
  }
  r = queue.Enqueue("demo.urgent", R"({"alert":"disk full"})",
                    {.queue = kDemoPriorityQueue, .priority = 1});
  if (!r.ok()) return r.status();
  note(*r, "demo.urgent",
       absl::StrFormat("queue %s, priority 1: enqueued last, runs first", kDemoPriorityQueue));

  r = queue.Enqueue("demo.flaky", "{}", {.queue = kDemoQueue});
  if (!r.ok()) return r.status();
  note(*r, "demo.flaky", "fails once, then succeeds");

  r = queue.Enqueue("demo.always-fails", R"({"order":42})", {.queue = kDemoQueue});
  if (!r.ok()) return r.status();
  note(*r, "demo.always-fails", "fails every time: dead after 3 attempts (2 retries)");

  r = queue.Enqueue("demo.slow", "{}", {.queue = kDemoQueue, .timeout = absl::Seconds(30)});
  if (!r.ok()) return r.status();
  note(*r, "demo.slow", "takes 3s, reports progress");
  return absl::OkStatus();
}

}  // namespace

int RunDemo(Queue& queue, const DemoOptions& options) {
  auto printer = std::make_shared<Printer>();
  if (absl::Status s = DefineHandlers(queue, printer); !s.ok()) {
    return Failure("worker --demo", s);
  }
  std::map<JobId, Tracked> tracked;
  if (absl::Status s = EnqueueSamples(queue, *printer, tracked); !s.ok()) {
    return Failure("worker --demo: enqueue", s);
  }
  printer->Text(
      absl::StrFormat("\nWorker %s running queues %s and %s (Ctrl-C stops it gracefully):\n",
                      queue.worker_id(), kDemoQueue, kDemoPriorityQueue));

  // The watcher prints state changes and, with exit_when_done, stops the
  // workers once every demo job is final.
  Notification stop_watching;
  std::atomic<bool> timed_out = false;
  std::thread watcher = StartThread([&] {
    absl::Time deadline = absl::Now() + options.timeout;
    bool announced = false;
    while (!stop_watching.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      bool all_final = true;
      for (auto& [id, t] : tracked) {
        absl::StatusOr<Job> job = queue.GetJob(id);
        if (!job.ok()) {
          // Deleted from elsewhere: nothing left to wait for. Otherwise a
          // transient read error: look again next tick.
          if (job.status().code() != absl::StatusCode::kNotFound) {
            all_final = false;
          }
          continue;
        }
        if (job->state != t.state) {
          // The workers' events show starts and outcomes; show the rest
          // (a delayed job falling due, a requeue or cancel from elsewhere).
          if (t.state == JobState::kScheduled || job->state == JobState::kAvailable ||
              job->state == JobState::kScheduled ||
              (job->state == JobState::kCancelled && !job->picked_at)) {
            printer->Line(
                t.state == JobState::kScheduled ? "due" : "state", id, t.name,
                absl::StrFormat("%s -> %s", JobStateName(t.state), JobStateName(job->state)));
          }
          t.state = job->state;
        }
        all_final = all_final && IsFinal(job->state);
      }
      if (all_final && !announced) {
        announced = true;
        if (options.exit_when_done) {
          queue.Stop();
          return;
        }
        printer->Text(
            "\nEvery demo job is final. The worker keeps running; try "
            "'popqueue jobs --queue demo' or\n'popqueue requeue <id>' in "
            "another terminal, and Ctrl-C here to stop.\n");
      }
      if (options.exit_when_done && absl::Now() > deadline) {
        timed_out = true;
        queue.Stop();
        return;
      }
    }
  });

  absl::Status run = queue.Start();
  stop_watching.Notify();
  watcher.join();
  if (!run.ok()) return Failure("worker --demo", run);

  // Summary of the final states.
  printer->Text("\nDemo jobs:\n");
  Table table({"ID", "NAME", "QUEUE", "STATE", "ATTEMPTS", "RESULT / LAST ERROR"});
  std::map<JobState, int> by_state;
  JobId dead_id = 0;
  for (const auto& [id, t] : tracked) {
    absl::StatusOr<Job> job = queue.GetJob(id);
    if (!job.ok()) {
      table.AddRow({absl::StrFormat("%d", id), Printable(t.name, 30), "-", "?", "-",
                    Printable(std::string(job.status().message()))});
      continue;
    }
    ++by_state[job->state];
    if (job->state == JobState::kDead) dead_id = id;
    std::string outcome =
        job->result ? *job->result : (job->errors.empty() ? "-" : job->errors.back().message);
    table.AddRow({absl::StrFormat("%d", id), Printable(job->name, 30), Printable(job->queue, 20),
                  std::string(JobStateName(job->state)),
                  absl::StrFormat("%d/%d", job->attempt, job->max_attempts),
                  Printable(outcome, 60)});
  }
  table.Print(stdout);
  std::string summary = "Summary:";
  for (const auto& [state, n] : by_state) {
    absl::StrAppendFormat(&summary, " %d %s,", n, JobStateName(state));
  }
  summary.pop_back();
  printer->Text(summary + "\n");
  if (dead_id != 0) {
    printer->Text(
        absl::StrFormat("Next: popqueue job %d    (its errors)\n"
                        "      popqueue requeue %d    (give it a fresh set of attempts)\n"
                        "      popqueue jobs --queue %s\n",
                        dead_id, dead_id, kDemoQueue));
  }
  if (timed_out) {
    return Failure("worker --demo",
                   absl::DeadlineExceededError(absl::StrFormat(
                       "demo jobs not all final after %s", absl::FormatDuration(options.timeout))));
  }
  return kExitOk;
}

}  // namespace popqueue::cli
