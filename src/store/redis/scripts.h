// The Lua scripts of the Redis store (lua/*.lua, embedded at build time).
// Job scripts get lua/lib.lua prepended; each file's header states its KEYS,
// ARGV and return value.
#ifndef POPQUEUE_STORE_REDIS_SCRIPTS_H_
#define POPQUEUE_STORE_REDIS_SCRIPTS_H_

#include <string_view>

#include "common/redis/redis_client.h"

namespace popqueue::store::redis_store {

struct Scripts {
  Scripts();

  redis::Script job_insert_many;
  redis::Script job_reserve;
  redis::Script job_uniq_check;
  redis::Script job_uniq_take;
  redis::Script job_forget;
  redis::Script job_claim;
  redis::Script job_complete_many;
  redis::Script job_fail_many;
  redis::Script job_snooze_many;
  redis::Script job_heartbeat_many;
  redis::Script job_rescue_expired;
  redis::Script job_requeue;
  redis::Script job_cancel;
  redis::Script job_delete;
  redis::Script job_delete_finished_before;
  redis::Script job_list;
  redis::Script queue_stats;
  redis::Script queue_oldest_due;
  redis::Script cron_fire_once;
  redis::Script leader_attempt_elect;
  redis::Script leader_resign;
  redis::Script worker_register;
  redis::Script worker_heartbeat;
  redis::Script worker_deregister;
  redis::Script worker_list;
  redis::Script workflow_attach;
  redis::Script workflow_complete_many;
  redis::Script workflow_fail_many;
  redis::Script workflow_get;
};

}  // namespace popqueue::store::redis_store

#endif  // POPQUEUE_STORE_REDIS_SCRIPTS_H_
