// The popqueue subcommands. Each takes the arguments after its name and
// returns the process exit code (see common.h: 0 ok, 1 failed, 2 usage).
#ifndef POPQUEUE_CLI_COMMANDS_H_
#define POPQUEUE_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace popqueue::cli {

using Args = std::vector<std::string>;

// commands_enqueue.cc
int RunEnqueue(const Args& args);
// commands_inspect.cc
int RunJobs(const Args& args);
int RunJob(const Args& args);
int RunStats(const Args& args);
int RunWorkers(const Args& args);
int RunSchedules(const Args& args);
// commands_workflow.cc
int RunWorkflow(const Args& args);
int RunBatch(const Args& args);
// commands_admin.cc
int RunRequeue(const Args& args);
int RunCancel(const Args& args);
int RunDelete(const Args& args);
int RunPause(const Args& args);
int RunResume(const Args& args);
int RunMigrate(const Args& args);
// commands_worker.cc
int RunWorker(const Args& args);
// commands_serve.cc
int RunServe(const Args& args);
// commands_config.cc
int RunConfig(const Args& args);

}  // namespace popqueue::cli

#endif  // POPQUEUE_CLI_COMMANDS_H_
