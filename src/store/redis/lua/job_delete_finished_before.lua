-- Deletes up to `limit` jobs in final state `state` finished before
-- `before`, over the given queues (of one slot on a cluster).
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] fused ('1' = also forget them in the collection
--          slot here; '0' = the client runs job_forget.lua)
-- ARGV[3]  state    ARGV[4] before (us)    ARGV[5] limit
-- ARGV[6..] the queues' tags Q
-- Returns {n, id1, identifier1, id2, ...}: how many were deleted and which
-- (with their identifiers).
local fused, state, before, left = ARGV[2] == '1', ARGV[3], ARGV[4], tonumber(ARGV[5])
local gone = {}
for q = 6, #ARGV do
  if left <= 0 then break end
  local Q = ARGV[q]
  local ids = redis.call('ZRANGEBYSCORE', k(Q, 'fin', state), '-inf', '(' .. before,
                         'LIMIT', 0, left)
  for _, id in ipairs(ids) do
    local identifier = delete_job(Q, id)
    if identifier then
      gone[#gone + 1] = {id, identifier}
    else
      zrem_later(k(Q, 'fin', state), id)
    end
  end
  left = left - #ids
end
if fused and #gone > 0 then forget_jobs(gone) end
local out = {#gone}
for _, g in ipairs(gone) do
  out[#out + 1] = g[1]
  out[#out + 1] = g[2]
end
return flush_then(out)
