-- One take of a GCRA rate limit without burst (see src/coord/gcra.h): allowed
-- iff the theoretical arrival time (TAT) has passed; then TAT = base + cost *
-- interval, base = TAT if the caller is less than one interval late, else
-- now. Time is Redis TIME, so every process agrees on it.
-- KEYS[1] the limit's TAT in microseconds since the epoch (string)
-- ARGV[1] emission interval in microseconds (period / limit, may be
--         fractional)  ARGV[2] cost
-- Returns {1, 0} when allowed, {0, retry_after_us} when refused.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  return {0, math.ceil(tat - now)}
end
local interval = tonumber(ARGV[1])
local base = now
if tat > 0 and now - tat < interval then
  base = tat
end
local new_tat = base + interval * tonumber(ARGV[2])
-- The state is meaningless once TAT passed: let it expire 1 s after.
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, 0}
