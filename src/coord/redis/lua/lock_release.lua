-- Releases the lock if still held by this owner with this token.
-- KEYS[1] lock hash {owner, token}
-- ARGV[1] owner  ARGV[2] token (decimal)
-- Returns 1 when released, 0 when it was not held this way (a no-op).
local held = redis.call('HMGET', KEYS[1], 'owner', 'token')
if held[1] == ARGV[1] and held[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
