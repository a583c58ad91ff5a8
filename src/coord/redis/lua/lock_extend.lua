-- Extends the lock if still held by this owner with this token.
-- KEYS[1] lock hash {owner, token}
-- ARGV[1] owner  ARGV[2] token (decimal)  ARGV[3] ttl in milliseconds
-- Returns 1 when extended, 0 when the lock is no longer held this way.
local held = redis.call('HMGET', KEYS[1], 'owner', 'token')
if held[1] == ARGV[1] and held[2] == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
