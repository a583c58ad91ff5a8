-- Deletes up to `limit` jobs in final state `state` finished before `before`.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] state    ARGV[3] before (us)    ARGV[4] limit
-- Returns how many were deleted.
local ids = redis.call('ZRANGEBYSCORE', k('fin', ARGV[2]), '-inf', '(' .. ARGV[3],
                       'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  if not delete_job(id) then zrem_later(k('fin', ARGV[2]), id) end
end
return flush_then(#ids)
