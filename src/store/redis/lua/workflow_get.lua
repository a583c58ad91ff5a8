-- Reads the jobs of one workflow (deleted ones are skipped).
-- KEYS[1]  Q:migrating-probe
-- ARGV[1]  C    ARGV[2] Q    ARGV[3] workflow id (19 digits)
-- Returns one HGETALL array per job, by id.
local Q, wf = ARGV[2], ARGV[3]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', k(Q, 'wf', wf), 0, -1)) do
  local h = redis.call('HGETALL', jkey(Q, id))
  if #h > 0 then out[#out + 1] = h end
end
return out
