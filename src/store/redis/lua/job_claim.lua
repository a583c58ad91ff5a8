-- Claims up to `limit` due jobs of the given queues (of one slot on a
-- cluster), in the order (priority, run_at, id) across all of them. Jobs of
-- paused queues are skipped. Due scheduled/retryable jobs are first
-- promoted to available. With `peek`, nothing is claimed: the script
-- returns the best `limit` candidates instead, so that a claim over
-- several slots can merge them before claiming (redis_store.cc).
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] limit    ARGV[4] worker id
-- ARGV[5]  lease token    ARGV[6] lease expiry (us)    ARGV[7] peek ('1'/'0')
-- ARGV[8..] pairs: Q, queue name
-- Returns {id1, pair index1, id2, ...}: the claimed jobs in claim order,
-- each with the pair of its queue (counting from 1); with peek,
-- {member1, pair index1, member2, ...} (members of Q:avail, best first).
local now, limit, worker, token, expires =
  ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local peek = ARGV[7] == '1'
local candidates = {}
local seen = {}
for i = 8, #ARGV, 2 do
  local Q = ARGV[i]
  if not seen[Q] and redis.call('EXISTS', k(Q, 'paused')) == 0 then
    seen[Q] = true
    local due = redis.call('ZRANGEBYSCORE', k(Q, 'sched'), '-inf', now)
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', jkey(Q, id), 'state', 'priority', 'run_at')
      redis.call('ZREM', k(Q, 'sched'), id)
      move_state(Q, id, f[1], 'available')
      redis.call('ZADD', k(Q, 'avail'), 0, avail_member(f[2], f[3], id))
    end
    local top = redis.call('ZRANGEBYLEX', k(Q, 'avail'), '-', '+', 'LIMIT', 0, limit)
    for _, m in ipairs(top) do candidates[#candidates + 1] = {m, i} end
  end
end
table.sort(candidates, function(a, b) return a[1] < b[1] end)
local out = {}
for i = 1, math.min(limit, #candidates) do
  local member, at = candidates[i][1], candidates[i][2]
  if peek then
    out[#out + 1] = member
    out[#out + 1] = (at - 6) / 2
  else
    local Q = ARGV[at]
    local id = string.sub(member, 27)
    local key = jkey(Q, id)
    zrem_later(k(Q, 'avail'), member)
    move_state(Q, id, 'available', 'running', true)
    -- The script reads only the attempt and whether a former attempt left
    -- a stop request; the client reads the claimed hashes after it with
    -- native HGETALLs (redis_store.cc ReadClaimed): half the server time of
    -- an HGETALL converted into Lua and back.
    local f = redis.call('HMGET', key, 'attempt', 'stop_reason')
    redis.call('HSET', key, 'attempt', tostring((tonumber(f[1]) or 0) + 1), 'state', 'running',
               'picked_at', now, 'worker_id', worker, 'lease_token', token,
               'lease_expires_at', expires)
    -- A new attempt starts with no stop request (the heartbeat writes the
    -- three fields together).
    if f[2] then
      redis.call('HDEL', key, 'stop_reason', 'stopping_since', 'stop_overdue')
    end
    zadd_later(k(Q, 'running'), expires, id)
    out[#out + 1] = id
    out[#out + 1] = (at - 6) / 2
  end
end
return flush_then(out)
