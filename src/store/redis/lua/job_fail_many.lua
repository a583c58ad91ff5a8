-- Fails running jobs whose lease token matches: to retryable (due again at
-- run_at), dead or cancelled. The error is appended as {attempt, now, text}.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)
-- ARGV[3..] 5 values per item: id, lease token, to ('retryable', 'dead' or
--           'cancelled'), run_at (us, for retryable), error text
-- Returns the ids that were changed.
local now = ARGV[2]
local done = {}
for at = 3, #ARGV, 5 do
  local id, token, to, run_us, message =
    ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local f = redis.call('HMGET', jkey(id), 'state', 'lease_token', 'queue',
                       'identifier', 'attempt')
  if f[1] == 'running' and f[2] == token then
    zrem_later(T .. ':running', id)
    redis.call('HDEL', jkey(id), 'lease_expires_at')
    append_error(id, f[5], now, message)
    if to == 'retryable' then
      move_state(id, f[3], 'running', 'retryable')
      redis.call('HSET', jkey(id), 'run_at', run_us)
      redis.call('ZADD', k('sched', f[3]), run_us, id)
    else
      finish(id, f[3], f[4], 'running', to, now)
    end
    done[#done + 1] = id
  end
end
return flush_then(done)
