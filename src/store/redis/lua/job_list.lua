-- Lists jobs newest first (id descending) with filters and a keyset cursor,
-- over the given queues (of one slot on a cluster; the client merges the
-- slots' pages). Per queue it walks the most selective index (identifier,
-- name, the one state, or all its jobs) and checks the other filters on
-- each job, unless the index is exactly the filter.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] before id ('' = from the newest)    ARGV[3] limit
-- ARGV[4]  identifier ('' = any)    ARGV[5] name ('' = any)
-- ARGV[6]  n, then n states (none = any)
-- ARGV[7+n..] the queues' tags Q
-- Returns up to `limit` jobs, newest first, each as its HGETALL array.
local before, limit = ARGV[2], tonumber(ARGV[3])
local identifier, name = ARGV[4], ARGV[5]
local nstates = tonumber(ARGV[6])
local states = {}
for i = 7, 6 + nstates do states[ARGV[i]] = true end
local kind, kname = 'all', nil
if identifier ~= '' then kind, kname = 'i', identifier
elseif name ~= '' then kind, kname = 'n', name
elseif nstates == 1 then kind, kname = 'st', ARGV[7] end
local exact = (kind == 'i' and name == '' and nstates == 0) or
              (kind == 'n' and nstates == 0) or kind == 'st' or
              (kind == 'all' and nstates == 0)
local top = '+'
if before ~= '' then top = '(' .. before end

local found = {}  -- {id, Q}
local chunk_size = 256
-- Running jobs are listed from Q:running (ordered by lease expiry): its
-- ids below the cursor, newest first.
local function running_page(Q)
  local ids = redis.call('ZRANGE', k(Q, 'running'), 0, -1)
  local below = {}
  for _, id in ipairs(ids) do
    if before == '' or id < before then below[#below + 1] = id end
  end
  table.sort(below, function(a, b) return a > b end)
  for i = 1, math.min(limit, #below) do found[#found + 1] = {below[i], Q} end
end
-- Walks Q's index newest first from the cursor, keeping what matches.
local function index_page(Q)
  local index = k(Q, kind, kname)
  local max, mine = top, 0
  while mine < limit do
    local chunk = redis.call('ZREVRANGEBYLEX', index, max, '-', 'LIMIT', 0,
                             exact and limit - mine or chunk_size)
    for _, id in ipairs(chunk) do
      local keep = exact
      if not keep then
        local f = redis.call('HMGET', jkey(Q, id), 'state', 'name', 'identifier')
        keep = f[1] and (nstates == 0 or states[f[1]]) and
               (name == '' or f[2] == name) and
               (identifier == '' or f[3] == identifier)
      end
      if keep then
        found[#found + 1] = {id, Q}
        mine = mine + 1
        if mine >= limit then break end
      end
    end
    if exact or #chunk < chunk_size then break end
    max = '(' .. chunk[#chunk]
  end
end
for q = 7 + nstates, #ARGV do
  if kind == 'st' and kname == 'running' then
    running_page(ARGV[q])
  else
    index_page(ARGV[q])
  end
end
table.sort(found, function(a, b) return a[1] > b[1] end)
local out = {}
for i = 1, math.min(limit, #found) do
  local job = redis.call('HGETALL', jkey(found[i][2], found[i][1]))
  if #job > 0 then out[#out + 1] = job end
end
return out
