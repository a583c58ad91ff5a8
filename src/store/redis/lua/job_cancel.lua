-- Cancels a scheduled, available or retryable job at once; marks a running
-- one cancel-requested (its worker ends it). A cancelled workflow parent
-- cancels or releases its dependants (workflow_lib.lua).
-- KEYS[1]  Q:migrating-probe
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] Q    ARGV[4] id
-- Returns {'ok', HGETALL}, {'notfound'} or {'state', state} for final jobs.
local now, Q, id = ARGV[2], ARGV[3], ARGV[4]
local f = redis.call('HMGET', jkey(Q, id), 'state', 'priority', 'run_at')
local state = f[1]
if not state then return {'notfound'} end
if FINAL[state] then return {'state', state} end
if state == 'running' then
  redis.call('HSET', jkey(Q, id), 'cancel', '1')
else
  unschedule(Q, id, state, f[2], f[3])
  finish(Q, id, state, 'cancelled', now)
  wf_propagate(Q, id, false, now)
end
return flush_then({'ok', redis.call('HGETALL', jkey(Q, id))})
