-- Lists live workers and drops expired ones from the index.
-- KEYS[1] index: sorted set of worker ids scored by expiry (ms since epoch)
-- ARGV[1] worker key prefix: worker id X lives at ARGV[1] .. X. These keys
--         share KEYS[1]'s hash tag, so they sit in the same cluster slot.
-- Returns a flat array {id, info, running, last_heartbeat_us, ...} sorted
-- by id.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
  local w = redis.call('HMGET', ARGV[1] .. id, 'info', 'running', 'last_heartbeat_us')
  if w[1] then
    table.insert(out, id)
    table.insert(out, w[1])
    table.insert(out, w[2] or '0')
    table.insert(out, w[3] or '0')
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
