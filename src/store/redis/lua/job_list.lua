-- Lists jobs newest first (id descending) with filters and a keyset cursor.
-- Walks the most selective index (identifier, queue, name, the one state,
-- or all jobs) and checks the other filters on each job.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] before id ('' = from the newest)    ARGV[3] limit
-- ARGV[4]  identifier    ARGV[5] queue    ARGV[6] name ('' = any)
-- ARGV[7..] states (none = any)
-- Returns up to `limit` jobs, each as its HGETALL field/value array.
local before, limit = ARGV[2], tonumber(ARGV[3])
local identifier, queue, name = ARGV[4], ARGV[5], ARGV[6]
local states, nstates = {}, 0
for i = 7, #ARGV do
  states[ARGV[i]] = true
  nstates = nstates + 1
end
local index = T .. ':all'
if identifier ~= '' then index = k('i', identifier)
elseif queue ~= '' then index = k('q', queue)
elseif name ~= '' then index = k('n', name)
elseif nstates == 1 then index = k('st', ARGV[7]) end
local max = '+'
if before ~= '' then max = '(' .. before end
local out = {}
local chunk_size = 256
while #out < limit do
  local chunk = redis.call('ZREVRANGEBYLEX', index, max, '-', 'LIMIT', 0, chunk_size)
  for _, id in ipairs(chunk) do
    local f = redis.call('HMGET', jkey(id), 'state', 'queue', 'name', 'identifier')
    if f[1] and (nstates == 0 or states[f[1]]) and
       (queue == '' or f[2] == queue) and (name == '' or f[3] == name) and
       (identifier == '' or f[4] == identifier) then
      out[#out + 1] = redis.call('HGETALL', jkey(id))
      if #out >= limit then break end
    end
  end
  if #chunk < chunk_size then break end
  max = '(' .. chunk[#chunk]
end
return out
