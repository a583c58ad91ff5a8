-- The counts and pause flags of the given queues (of one slot on a
-- cluster). Read-only.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2..] the queues' tags Q
-- Returns per queue, in order: its Q:counts HGETALL array, then 1 if it is
-- paused else 0.
local out = {}
for q = 2, #ARGV do
  out[#out + 1] = redis.call('HGETALL', k(ARGV[q], 'counts'))
  out[#out + 1] = redis.call('EXISTS', k(ARGV[q], 'paused'))
end
return out
