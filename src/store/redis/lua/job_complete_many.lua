-- Completes running jobs whose lease token matches. With workflow_lib.lua
-- (workflow_complete_many) ended() releases a parent's dependants.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)
-- ARGV[3..] per queue: Q, n, then n x 4 values: id, lease token,
--           has_result ('1'/'0'), result
-- Returns the ids that were completed.
local now = ARGV[2]
local done = {}
local at = 3
while at <= #ARGV do
  local Q, n = ARGV[at], tonumber(ARGV[at + 1])
  for i = at + 2, at + 1 + 4 * n, 4 do
    local id, token = ARGV[i], ARGV[i + 1]
    local f = redis.call('HMGET', jkey(Q, id), 'state', 'lease_token')
    if f[1] == 'running' and f[2] == token then
      zrem_later(k(Q, 'running'), id)
      finish(Q, id, 'running', 'completed', now, ARGV[i + 2] == '1' and ARGV[i + 3] or nil)
      ended(Q, id, true, now)
      done[#done + 1] = id
    end
  end
  at = at + 2 + 4 * n
end
return flush_then(done)
