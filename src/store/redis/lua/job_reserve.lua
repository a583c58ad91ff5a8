-- Cluster, step one of an insert, in the collection slot: checks the new
-- ids against the directory C:dir, registers the queues in C:queues,
-- reserves identifiers in C:uniq and records each job's queue in C:dir
-- (jobs whose identifier is held are left out; the client decides about
-- them with job_uniq_check.lua). Reads come before writes.
-- KEYS[1]  C:migrating-probe
-- ARGV[1]  C    ARGV[2] retry: '1' = a later round of the same insert,
--          whose own directory entries (same id, same Q) are not collisions
-- ARGV[3]  n, then n queue names to register
-- ARGV[4+n..] triples: id, Q, identifier ('' = none)
-- Returns {'exists', id} when an id is taken (nothing written), else
-- {'ok', kind1, value1, kind2, ...} in ARGV order: 'ok', token (0 without
-- an identifier) or 'held', the holder's entry "<id>|<token>|<Q>".
local retry, nreg = ARGV[2] == '1', tonumber(ARGV[3])
local first = 4 + nreg
local seen, ids = {}, {}
for at = first, #ARGV, 3 do
  local id = ARGV[at]
  if seen[id] then return {'exists', id} end
  seen[id] = true
  ids[#ids + 1] = id
end
for i = 1, #ids, CHUNK do
  local found = redis.call('HMGET', C .. ':dir',
                          unpack(ids, i, math.min(#ids, i + CHUNK - 1)))
  for j, v in ipairs(found) do
    local at = first + (i + j - 2) * 3
    if v and not (retry and v == ARGV[at + 1]) then return {'exists', ARGV[at]} end
  end
end
if nreg > 0 then redis.call('SADD', C .. ':queues', unpack(ARGV, 4, 3 + nreg)) end

local out = {'ok'}
for at = first, #ARGV, 3 do
  local id, Q, identifier = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  if identifier == '' then
    hset_later(C .. ':dir', id, Q)
    out[#out + 1] = 'ok'
    out[#out + 1] = 0
  else
    local e = redis.call('HGET', C .. ':uniq', identifier)
    if e and string.sub(e, 1, 19) ~= id then
      out[#out + 1] = 'held'
      out[#out + 1] = e
    else
      local token = redis.call('INCR', C .. ':seq')
      redis.call('HSET', C .. ':uniq', identifier, entry_of(id, token, Q))
      hset_later(C .. ':dir', id, Q)
      out[#out + 1] = 'ok'
      out[#out + 1] = token
    end
  end
end
return flush_then(out)
