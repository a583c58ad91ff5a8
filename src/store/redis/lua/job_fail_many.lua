-- Fails running jobs whose lease token matches: to retryable (due again at
-- run_at), dead or cancelled. With workflow_lib.lua (workflow_fail_many)
-- ended() cancels or releases a dead or cancelled parent's dependants. The error is appended as {attempt, now, text}.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)
-- ARGV[3..] per queue: Q, n, then n x 5 values: id, lease token, to
--           ('retryable', 'dead' or 'cancelled'), run_at (us, for
--           retryable), error text
-- Returns the ids that were changed.
local now = ARGV[2]
local done = {}
local at = 3
while at <= #ARGV do
  local Q, n = ARGV[at], tonumber(ARGV[at + 1])
  for i = at + 2, at + 1 + 5 * n, 5 do
    local id, token, to, run_us, message =
      ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local f = redis.call('HMGET', jkey(Q, id), 'state', 'lease_token', 'attempt')
    if f[1] == 'running' and f[2] == token then
      zrem_later(k(Q, 'running'), id)
      redis.call('HDEL', jkey(Q, id), 'lease_expires_at')
      append_error(Q, id, f[3], now, message)
      if to == 'retryable' then
        move_state(Q, id, 'running', 'retryable')
        redis.call('HSET', jkey(Q, id), 'run_at', run_us)
        redis.call('ZADD', k(Q, 'sched'), run_us, id)
      else
        finish(Q, id, 'running', to, now)
        ended(Q, id, false, now)
      end
      done[#done + 1] = id
    end
  end
  at = at + 2 + 5 * n
end
return flush_then(done)
