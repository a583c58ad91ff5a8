-- Removes a worker from the registry.
-- KEYS[1] worker hash  KEYS[2] index sorted set
-- ARGV[1] worker id
-- Returns 1 when it was registered, 0 otherwise.
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return removed
