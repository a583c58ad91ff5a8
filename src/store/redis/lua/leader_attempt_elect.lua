-- Takes or extends a leadership: free, expired (expiry <= now) or already
-- held by the candidate -> the candidate holds it until `expires`.
-- KEYS[1]  T:leader:<name> (hash: id, expires)
-- ARGV[1]  candidate id    ARGV[2] now (us)    ARGV[3] expires (us)
-- Returns 1 when the candidate holds it, 0 otherwise.
local h = redis.call('HMGET', KEYS[1], 'id', 'expires')
if h[1] and h[1] ~= ARGV[1] and tonumber(h[2]) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'expires', ARGV[3])
return 1
