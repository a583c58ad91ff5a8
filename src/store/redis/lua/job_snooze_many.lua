-- Running jobs (matching lease token) their handlers snoozed: scheduled
-- again at run_at, the attempt given back (the claim counted it), no error
-- appended. The snoozed items of JobFailMany; the others go to
-- job_fail_many.lua.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)
-- ARGV[3..] per queue: Q, n, then n x 3 values: id, lease token, run_at (us)
-- Returns the ids that were changed.
local done = {}
local at = 3
while at <= #ARGV do
  local Q, n = ARGV[at], tonumber(ARGV[at + 1])
  for i = at + 2, at + 1 + 3 * n, 3 do
    local id, token, run_us = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local f = redis.call('HMGET', jkey(Q, id), 'state', 'lease_token', 'attempt')
    if f[1] == 'running' and f[2] == token then
      zrem_later(k(Q, 'running'), id)
      redis.call('HDEL', jkey(Q, id), 'lease_expires_at')
      local attempt = tonumber(f[3]) or 1
      if attempt < 1 then attempt = 1 end
      move_state(Q, id, 'running', 'scheduled')
      redis.call('HSET', jkey(Q, id), 'run_at', run_us, 'attempt', attempt - 1)
      redis.call('ZADD', k(Q, 'sched'), run_us, id)
      done[#done + 1] = id
    end
  end
  at = at + 2 + 3 * n
end
return flush_then(done)
