-- Second step of a workflow insert: job_insert_many.lua stored every job of
-- the workflow as scheduled at kWaitingForParents (inert: nothing runs if
-- the client dies before this step); this script records the edges, indexes
-- the jobs under the workflow and makes the jobs without parents due at
-- their own run_at.
-- KEYS[1]  Q:migrating-probe
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] Q    ARGV[4] queue name
-- ARGV[5]  workflow id (19 digits)
-- ARGV[6..] per job, 5 values: id, parent edges, dependant edges, number of
--           parents, run_at (us; for jobs without parents)
-- Returns the number of jobs attached.
local now, Q, queue, wf = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local n = 0
for i = 6, #ARGV, 5 do
  local id, par, dep, wait, run_us = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  redis.call('HSET', jkey(Q, id), 'wf', wf, 'par', par, 'dep', dep, 'wait', wait)
  redis.call('ZADD', k(Q, 'wf', wf), 0, id)
  if wait == '0' then
    redis.call('HSET', jkey(Q, id), 'run_at', run_us)
    if tonumber(run_us) > tonumber(now) then
      redis.call('ZADD', k(Q, 'sched'), run_us, id)
    else
      redis.call('ZREM', k(Q, 'sched'), id)
      move_state(Q, id, 'scheduled', 'available')
      local priority = redis.call('HGET', jkey(Q, id), 'priority')
      make_available(Q, queue, id, priority, run_us)
    end
  end
  n = n + 1
end
return flush_then(n)
