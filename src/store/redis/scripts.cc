#include "store/redis/scripts.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "embedded/redis_lua.h"

namespace popqueue::store::redis_store {
namespace {

std::string Load(std::string_view file) {
  std::string_view text = embedded::redis_lua(file);
  if (text.empty()) {  // a build error: the file is not in CMakeLists.txt
    std::fprintf(stderr, "popqueue: missing embedded Redis script %.*s\n",
                 static_cast<int>(file.size()), file.data());
    std::abort();
  }
  return std::string(text);
}

// Scripts after which wait=N does not WAIT: reads, and worker_list, whose
// only writes prune expired entries that the next list prunes again.
constexpr redis::Script::Access kReadOnly = redis::Script::Access::kReadOnly;

// A job script: the shared helpers, then the script itself.
std::string WithLib(std::string_view file) { return Load("lib.lua") + "\n" + Load(file); }
// A script that may end a workflow parent: the workflow helpers too.
std::string WithWorkflowLib(std::string_view file) {
  return Load("lib.lua") + "\n" + Load("workflow_lib.lua") + "\n" + Load(file);
}

}  // namespace

Scripts::Scripts()
    : job_insert_many(WithLib("job_insert_many.lua")),
      job_reserve(WithLib("job_reserve.lua")),
      job_uniq_check(WithLib("job_uniq_check.lua")),
      job_uniq_take(WithLib("job_uniq_take.lua")),
      job_forget(WithLib("job_forget.lua")),
      job_claim(WithLib("job_claim.lua")),
      job_complete_many(WithLib("job_complete_many.lua")),
      job_fail_many(WithLib("job_fail_many.lua")),
      job_snooze_many(WithLib("job_snooze_many.lua")),
      job_heartbeat_many(WithLib("job_heartbeat_many.lua")),
      job_rescue_expired(WithWorkflowLib("job_rescue_expired.lua")),
      job_requeue(WithLib("job_requeue.lua")),
      job_cancel(WithWorkflowLib("job_cancel.lua")),
      job_delete(WithLib("job_delete.lua")),
      job_delete_finished_before(WithLib("job_delete_finished_before.lua")),
      job_list(WithLib("job_list.lua"), kReadOnly),
      queue_stats(WithLib("queue_stats.lua"), kReadOnly),
      queue_oldest_due(WithLib("queue_oldest_due.lua"), kReadOnly),
      cron_fire_once(WithLib("cron_fire_once.lua")),
      leader_attempt_elect(Load("leader_attempt_elect.lua")),
      leader_resign(Load("leader_resign.lua")),
      worker_register(Load("worker_register.lua")),
      worker_heartbeat(Load("worker_heartbeat.lua")),
      worker_deregister(Load("worker_deregister.lua")),
      worker_list(Load("worker_list.lua"), kReadOnly),
      workflow_attach(WithLib("workflow_attach.lua")),
      workflow_complete_many(WithWorkflowLib("job_complete_many.lua")),
      workflow_fail_many(WithWorkflowLib("job_fail_many.lua")),
      workflow_get(WithLib("workflow_get.lua"), kReadOnly) {}

}  // namespace popqueue::store::redis_store
