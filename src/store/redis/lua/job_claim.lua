-- Claims up to `limit` due jobs of the given queues, in the order
-- (priority, run_at, id) across all of them. Jobs of paused queues are
-- skipped. Due scheduled/retryable jobs are first promoted to available.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)    ARGV[3] limit    ARGV[4] worker id
-- ARGV[5]  lease token    ARGV[6] lease expiry (us)    ARGV[7..] queues
-- Returns the claimed jobs, each as its HGETALL field/value array.
local now, limit, worker, token, expires =
  ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local candidates = {}
local seen = {}
for i = 7, #ARGV do
  local q = ARGV[i]
  if not seen[q] and redis.call('HEXISTS', T .. ':paused', q) == 0 then
    seen[q] = true
    local due = redis.call('ZRANGEBYSCORE', k('sched', q), '-inf', now)
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', jkey(id), 'state', 'priority', 'run_at')
      redis.call('ZREM', k('sched', q), id)
      move_state(id, q, f[1], 'available')
      redis.call('ZADD', k('avail', q), 0, avail_member(f[2], f[3], id))
    end
    local top = redis.call('ZRANGEBYLEX', k('avail', q), '-', '+', 'LIMIT', 0, limit)
    for _, m in ipairs(top) do candidates[#candidates + 1] = {m, q} end
  end
end
table.sort(candidates, function(a, b) return a[1] < b[1] end)
local out = {}
for i = 1, math.min(limit, #candidates) do
  local member, q = candidates[i][1], candidates[i][2]
  local id = string.sub(member, 27)
  redis.call('ZREM', k('avail', q), member)
  move_state(id, q, 'available', 'running', true)
  redis.call('HINCRBY', jkey(id), 'attempt', 1)
  redis.call('HSET', jkey(id), 'state', 'running', 'picked_at', now, 'worker_id', worker,
             'lease_token', token, 'lease_expires_at', expires)
  zadd_later(T .. ':running', expires, id)
  out[#out + 1] = redis.call('HGETALL', jkey(id))
end
return flush_then(out)
