-- Cancels a scheduled, available or retryable job at once; marks a running
-- one cancel-requested (its worker ends it).
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)    ARGV[3] id
-- Returns {'ok', HGETALL}, {'notfound'} or {'state', state} for final jobs.
local now, id = ARGV[2], ARGV[3]
local f = redis.call('HMGET', jkey(id), 'state', 'queue', 'identifier',
                     'priority', 'run_at')
local state = f[1]
if not state then return {'notfound'} end
if FINAL[state] then return {'state', state} end
if state == 'running' then
  redis.call('HSET', jkey(id), 'cancel', '1')
else
  unschedule(id, state, f[2], f[4], f[5])
  finish(id, f[2], f[3], state, 'cancelled', now)
end
return flush_then({'ok', redis.call('HGETALL', jkey(id))})
