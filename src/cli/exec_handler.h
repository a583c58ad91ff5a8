// A handler that runs a shell command per job, so `popqueue worker` can
// process jobs with programs written in any language.
//
// For each job, `/bin/sh -c COMMAND` runs with the job's data on stdin and
// POPQUEUE_JOB_ID, POPQUEUE_JOB_NAME, POPQUEUE_JOB_QUEUE,
// POPQUEUE_JOB_IDENTIFIER, POPQUEUE_JOB_ATTEMPT and POPQUEUE_JOB_MAX_ATTEMPTS
// in its environment. Exit status 0 is success and the command's stdout (up to
// 64 KiB) becomes the job's result; anything else is a failure whose message
// is the exit status and the end of stderr, except three exit statuses that
// ask for the outcomes of popqueue/outcome.h:
//   75 (EX_TEMPFAIL)  snooze: run again after the delay on stdout's first
//                     line (seconds, or 90s / 5m / 1h30m), without using an
//                     attempt; a missing or bad delay is an ordinary failure;
//   76                discard: end cancelled, never retried (reason: stderr);
//   77                fail without retry: end dead at once (error: stderr).
// When the job is cancelled or times
// out the command (its whole process group) gets SIGTERM, then SIGKILL shortly
// before the worker's stop deadline (WorkerOptions::stop_grace after the
// request, or the shutdown deadline), so the attempt ends only once the
// command is gone.
#ifndef POPQUEUE_CLI_EXEC_HANDLER_H_
#define POPQUEUE_CLI_EXEC_HANDLER_H_

#include <string>

#include "popqueue/queue.h"

namespace popqueue::cli {

inline constexpr int kExitSnooze = 75;
inline constexpr int kExitDiscard = 76;
inline constexpr int kExitFailWithoutRetry = 77;

ContextHandler ExecHandler(std::string command);

}  // namespace popqueue::cli

#endif  // POPQUEUE_CLI_EXEC_HANDLER_H_
