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
-- Returns the claimed jobs, each as its HGETALL field/value array; with
-- peek, {member1, pair index1, member2, ...} (members of Q:avail, best
-- first; pair index counts from 1).
local now, limit, worker, token, expires =
  ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local peek = ARGV[7] == '1'
local CLAIM_FIELDS = {'attempt', 'state', 'picked_at', 'worker_id', 'lease_token',
                      'lease_expires_at'}
local CLAIM_FIELD = {}
for c, f in ipairs(CLAIM_FIELDS) do CLAIM_FIELD[f] = c end
local STOP_FIELD = {stop_reason = true, stopping_since = true, stop_overdue = true}
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
    -- One read and one write per job: the reply is the hash as read, with
    -- the fields this claim writes put in (appended when absent).
    local h = redis.call('HGETALL', key)
    local pos = {false, false, false, false, false, false}
    local stop_at = false  -- a former attempt's stop request (Job::stopping)
    for j = 1, #h, 2 do
      local c = CLAIM_FIELD[h[j]]
      if c then
        pos[c] = j + 1
      elseif STOP_FIELD[h[j]] then
        stop_at = true
      end
    end
    local vals = {tostring(pos[1] and tonumber(h[pos[1]]) + 1 or 1), 'running', now, worker,
                  token, expires}
    redis.call('HSET', key, 'attempt', vals[1], 'state', 'running', 'picked_at', now,
               'worker_id', worker, 'lease_token', token, 'lease_expires_at', expires)
    for c = 1, 6 do
      if pos[c] then
        h[pos[c]] = vals[c]
      else
        h[#h + 1] = CLAIM_FIELDS[c]
        h[#h + 1] = vals[c]
      end
    end
    -- A new attempt starts with no stop request: dropped from the hash and
    -- the reply, only when a former attempt left one.
    if stop_at then
      redis.call('HDEL', key, 'stop_reason', 'stopping_since', 'stop_overdue')
      local kept = {}
      for j = 1, #h, 2 do
        if not STOP_FIELD[h[j]] then
          kept[#kept + 1] = h[j]
          kept[#kept + 1] = h[j + 1]
        end
      end
      h = kept
    end
    zadd_later(k(Q, 'running'), expires, id)
    out[#out + 1] = h
  end
end
return flush_then(out)
