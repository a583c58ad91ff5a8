-- Lists registered workers that heartbeat at or after `since`, and forgets
-- those silent for longer than the caller's prune horizon.
-- KEYS[1]  T:workers
-- ARGV[1]  T    ARGV[2] since (us)    ARGV[3] prune before (us)
-- Returns each listed worker's HGETALL field/value array.
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. ':worker:' .. id
  local beat = redis.call('HGET', key, 'last_heartbeat_at')
  if not beat or tonumber(beat) < tonumber(ARGV[3]) then
    redis.call('SREM', KEYS[1], id)
    redis.call('DEL', key)
  elseif tonumber(beat) >= tonumber(ARGV[2]) then
    out[#out + 1] = redis.call('HGETALL', key)
  end
end
return out
