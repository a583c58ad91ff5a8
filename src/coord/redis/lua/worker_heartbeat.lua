-- Records a heartbeat of a registered worker; never revives an unknown one.
-- KEYS[1] worker hash {info, running, last_heartbeat_us}
-- KEYS[2] index: sorted set of worker ids scored by expiry (ms since epoch)
-- ARGV[1] worker id  ARGV[2] running  ARGV[3] ttl in milliseconds
-- Returns 1, or 0 when the worker is not registered (deregistered/expired).
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('HSET', KEYS[1], 'running', ARGV[2],
           'last_heartbeat_us', string.format('%.0f', now_us))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], math.floor(now_us / 1000) + tonumber(ARGV[3]), ARGV[1])
return 1
