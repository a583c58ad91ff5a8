-- Extends the leases of running jobs whose lease token matches.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] new lease expiry (us)
-- ARGV[4..] per queue: Q, n, then n x 3 values: id, lease token, progress
--           ('' = unchanged)
-- Returns {extended ids, ids of those with a cancel request}.
local expires = ARGV[3]
local extended, cancel = {}, {}
local at = 4
while at <= #ARGV do
  local Q, n = ARGV[at], tonumber(ARGV[at + 1])
  for i = at + 2, at + 1 + 3 * n, 3 do
    local id, token, progress = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local f = redis.call('HMGET', jkey(Q, id), 'state', 'lease_token', 'cancel')
    if f[1] == 'running' and f[2] == token then
      redis.call('HSET', jkey(Q, id), 'lease_expires_at', expires)
      if progress ~= '' then redis.call('HSET', jkey(Q, id), 'progress', progress) end
      zadd_later(k(Q, 'running'), expires, id)
      extended[#extended + 1] = id
      if f[3] == '1' then cancel[#cancel + 1] = id end
    end
  end
  at = at + 2 + 3 * n
end
return flush_then({extended, cancel})
