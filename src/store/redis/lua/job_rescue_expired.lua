-- Rescues running jobs whose lease expired before now: cancel requested ->
-- cancelled; attempts left -> retryable, due now; else dead. Each gets the
-- error "lease expired (worker W)".
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)    ARGV[3] limit
-- Returns how many jobs were rescued.
local now = ARGV[2]
local ids = redis.call('ZRANGEBYSCORE', T .. ':running', '-inf', '(' .. now,
                       'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  zrem_later(T .. ':running', id)
  local f = redis.call('HMGET', jkey(id), 'state', 'queue', 'identifier',
                       'attempt', 'max_attempts', 'cancel', 'worker_id')
  if f[1] == 'running' then
    n = n + 1
    redis.call('HDEL', jkey(id), 'lease_expires_at')
    append_error(id, f[4], now, 'lease expired (worker ' .. f[7] .. ')')
    if f[6] == '1' then
      finish(id, f[2], f[3], 'running', 'cancelled', now)
    elseif tonumber(f[4]) < tonumber(f[5]) then
      move_state(id, f[2], 'running', 'retryable')
      redis.call('HSET', jkey(id), 'run_at', now)
      redis.call('ZADD', k('sched', f[2]), now, id)
    else
      finish(id, f[2], f[3], 'running', 'dead', now)
    end
  end
end
return flush_then(n)
