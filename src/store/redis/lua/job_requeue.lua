-- Moves a dead, cancelled, completed or retryable job back to available:
-- attempt 0, run_at now, errors kept.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)    ARGV[3] id
-- Returns {'ok', HGETALL}, {'notfound'}, {'state', state} when the state
-- does not allow it, or {'identifier', holder id} when another non-final
-- job holds the identifier.
local now, id = ARGV[2], ARGV[3]
local f = redis.call('HMGET', jkey(id), 'state', 'queue', 'identifier',
                     'priority', 'run_at')
local state, queue, identifier = f[1], f[2], f[3]
if not state then return {'notfound'} end
if not (FINAL[state] or state == 'retryable') then return {'state', state} end
if identifier ~= '' then
  local holder = redis.call('HGET', T .. ':uniq', identifier)
  if holder and holder ~= id then return {'identifier', holder} end
  redis.call('HSET', T .. ':uniq', identifier, id)
end
unschedule(id, state, queue, f[4], f[5])
move_state(id, queue, state, 'available')
redis.call('HSET', jkey(id), 'attempt', '0', 'run_at', now, 'cancel', '0')
redis.call('HDEL', jkey(id), 'finished_at', 'lease_expires_at')
make_available(id, queue, f[4], now)
return flush_then({'ok', redis.call('HGETALL', jkey(id))})
