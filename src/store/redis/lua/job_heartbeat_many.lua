-- Extends the leases of running jobs whose lease token matches.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)    ARGV[3] new lease expiry (us)
-- ARGV[4..] 3 values per item: id, lease token, progress ('' = unchanged)
-- Returns {extended ids, ids of those with a cancel request}.
local expires = ARGV[3]
local extended, cancel = {}, {}
for at = 4, #ARGV, 3 do
  local id, token, progress = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local f = redis.call('HMGET', jkey(id), 'state', 'lease_token', 'cancel')
  if f[1] == 'running' and f[2] == token then
    redis.call('HSET', jkey(id), 'lease_expires_at', expires)
    if progress ~= '' then redis.call('HSET', jkey(id), 'progress', progress) end
    zadd_later(T .. ':running', expires, id)
    extended[#extended + 1] = id
    if f[3] == '1' then cancel[#cancel + 1] = id end
  end
end
return flush_then({extended, cancel})
