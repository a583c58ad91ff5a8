-- Extends the leases of running jobs whose lease token matches; stores
-- progress and, for attempts the worker asked to stop, why and since when.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] new lease expiry (us)
-- ARGV[4..] per queue: Q, n, then n x 6 values: id, lease token, progress
--           ('' = unchanged), stop reason ('' = leave the stop fields),
--           stopping since (us), overdue ('1' or '0')
-- Returns {extended ids, ids of those with a cancel request}.
local expires = ARGV[3]
local extended, cancel = {}, {}
local at = 4
while at <= #ARGV do
  local Q, n = ARGV[at], tonumber(ARGV[at + 1])
  for i = at + 2, at + 1 + 6 * n, 6 do
    local id, token, progress = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local f = redis.call('HMGET', jkey(Q, id), 'state', 'lease_token', 'cancel')
    if f[1] == 'running' and f[2] == token then
      redis.call('HSET', jkey(Q, id), 'lease_expires_at', expires)
      if progress ~= '' then redis.call('HSET', jkey(Q, id), 'progress', progress) end
      if ARGV[i + 3] ~= '' then
        redis.call('HSET', jkey(Q, id), 'stop_reason', ARGV[i + 3],
                   'stopping_since', ARGV[i + 4], 'stop_overdue', ARGV[i + 5])
      end
      zadd_later(k(Q, 'running'), expires, id)
      extended[#extended + 1] = id
      if f[3] == '1' then cancel[#cancel + 1] = id end
    end
  end
  at = at + 2 + 6 * n
end
return flush_then({extended, cancel})
