-- Registers (or re-registers) a worker for ttl.
-- KEYS[1] worker hash {info, running, last_heartbeat_us}
-- KEYS[2] index: sorted set of worker ids scored by expiry (ms since epoch)
-- ARGV[1] worker id  ARGV[2] info (JSON: id, host, pid, queues, started_at)
-- ARGV[3] running  ARGV[4] ttl in milliseconds
-- Returns 1.
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'info', ARGV[2], 'running', ARGV[3],
           'last_heartbeat_us', string.format('%.0f', now_us))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], math.floor(now_us / 1000) + tonumber(ARGV[4]), ARGV[1])
return 1
