-- Rescues running jobs whose lease expired before now: cancel requested ->
-- cancelled; attempts left -> retryable, due now; else dead. Each gets the
-- error "lease expired (worker W)". At most `limit` over all the queues.
-- Dead or cancelled workflow parents cancel or release their dependants
-- (workflow_lib.lua).
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] limit
-- ARGV[4..] the queues' tags Q
-- Returns the rescued jobs flat: {id1, state1, id2, state2, ...}.
local now, left = ARGV[2], tonumber(ARGV[3])
local moved = {}
for q = 4, #ARGV do
  if left <= 0 then break end
  local Q = ARGV[q]
  local ids = redis.call('ZRANGEBYSCORE', k(Q, 'running'), '-inf', '(' .. now,
                         'LIMIT', 0, left)
  for _, id in ipairs(ids) do
    zrem_later(k(Q, 'running'), id)
    local f = redis.call('HMGET', jkey(Q, id), 'state', 'attempt', 'max_attempts',
                         'cancel', 'worker_id')
    if f[1] == 'running' then
      left = left - 1
      redis.call('HDEL', jkey(Q, id), 'lease_expires_at')
      append_error(Q, id, f[2], now, 'lease expired (worker ' .. f[5] .. ')')
      if f[4] == '1' then
        finish(Q, id, 'running', 'cancelled', now)
        wf_propagate(Q, id, false, now)
        moved[#moved + 1] = id
        moved[#moved + 1] = 'cancelled'
      elseif tonumber(f[2]) < tonumber(f[3]) then
        move_state(Q, id, 'running', 'retryable')
        redis.call('HSET', jkey(Q, id), 'run_at', now)
        redis.call('ZADD', k(Q, 'sched'), now, id)
        moved[#moved + 1] = id
        moved[#moved + 1] = 'retryable'
      else
        finish(Q, id, 'running', 'dead', now)
        wf_propagate(Q, id, false, now)
        moved[#moved + 1] = id
        moved[#moved + 1] = 'dead'
      end
    end
  end
end
return flush_then(moved)
