-- The least run_at of each given queue's due jobs (of one slot on a
-- cluster): available, scheduled or retryable with run_at <= now. Read-only.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3..] the queues' tags Q
-- Returns per queue, in order: that run_at (us) as a string, '' when none.
--
-- Q:avail is in claim order (priority, run_at, id), so each priority level
-- starts with its oldest job: one ZRANGEBYLEX seek per level (the next
-- level starts at the next priority's prefix), never a walk over the
-- queue's jobs. Q:sched is by run_at: its first entry is its oldest.
local now = tonumber(ARGV[2])
local out = {}
for q = 3, #ARGV do
  local Q = ARGV[q]
  local least = nil
  local from = '-'
  while true do
    local m = redis.call('ZRANGEBYLEX', k(Q, 'avail'), from, '+', 'LIMIT', 0, 1)
    if #m == 0 then break end
    local level = tonumber(string.sub(m[1], 1, 10))
    local run = tonumber(string.sub(m[1], 11, 26))
    if run <= now and (least == nil or run < least) then least = run end
    from = '[' .. string.format('%010d', level + 1)
  end
  local s = redis.call('ZRANGE', k(Q, 'sched'), 0, 0, 'WITHSCORES')
  if #s == 2 then
    local run = tonumber(s[2])
    if run <= now and (least == nil or run < least) then least = run end
  end
  out[#out + 1] = least and string.format('%.0f', least) or ''
end
return out
