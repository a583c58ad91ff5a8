-- Cluster, in the collection slot: takes identifier reservations over from
-- holders that job_uniq_check.lua found stale (final, or missing and now
-- revoked), unless the entry changed meanwhile; records each taker's queue
-- in C:dir.
-- KEYS[1]  C:migrating-probe
-- ARGV[1]  C
-- ARGV[2..] quads: identifier, expected entry ('' = none), id, Q
-- Returns per quad, in order: 'ok', token or 'held', the current entry.
local out = {}
for at = 2, #ARGV, 4 do
  local identifier, expected, id, Q = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local e = redis.call('HGET', C .. ':uniq', identifier)
  if not e or e == expected or string.sub(e, 1, 19) == id then
    local token = redis.call('INCR', C .. ':seq')
    redis.call('HSET', C .. ':uniq', identifier, entry_of(id, token, Q))
    hset_later(C .. ':dir', id, Q)
    out[#out + 1] = 'ok'
    out[#out + 1] = token
  else
    out[#out + 1] = 'held'
    out[#out + 1] = e
  end
end
return flush_then(out)
