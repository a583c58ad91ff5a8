-- Takes the lock when free (or expired), or gives the holder its lock back
-- with a new ttl.
-- KEYS[1] lock hash {owner, token}  KEYS[2] token counter (never expires)
-- ARGV[1] owner  ARGV[2] ttl in milliseconds
-- Returns the fencing token (integer) when ARGV[1] holds the lock now, or
-- nil when someone else holds it.
-- Tokens are max(last + 1, Redis TIME in microseconds): strictly increasing,
-- and still above every earlier token if the counter was lost (a crash with
-- appendfsync everysec can lose the last second of writes).
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner then
  if owner ~= ARGV[1] then
    return nil
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'token'))
end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = math.max(last + 1, now_us)
local text = string.format('%.0f', token)
redis.call('SET', KEYS[2], text)
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', text)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
