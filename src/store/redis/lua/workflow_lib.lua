-- Workflow helpers (docs/composition.md), prepended after lib.lua to the
-- scripts that may end a workflow parent: workflow_complete_many and
-- workflow_fail_many (job_complete_many.lua and job_fail_many.lua with
-- lib.lua's `ended` hook set to wf_propagate), job_cancel,
-- job_rescue_expired (scripts.cc).
-- A workflow lives in one queue (Store::SupportsCrossQueueWorkflows), so a
-- parent and all its dependants share the slot Q. Job hash fields:
--   wf    workflow id          wait  parents not yet done
--   par   parent edges         dep   dependant edges
-- Edges are "<id19>[~],<id19>[~],..." ('~' = ignore_failure).

local function wf_edges(text)
  local out = {}
  if not text then return out end
  for part in string.gmatch(text, '[^,]+') do
    local ignore = string.sub(part, -1) == '~'
    if ignore then part = string.sub(part, 1, -2) end
    out[#out + 1] = {part, ignore}
  end
  return out
end

-- Job `id` of Q just completed (ok) or ended dead/cancelled: each waiting
-- dependant loses one parent (the last makes it available, due now), or is
-- cancelled when the parent failed over a normal edge, and so on.
local function wf_propagate(Q, id, ok, now)
  local work = {{id, ok}}
  local i = 1
  while i <= #work do
    local pid, pok = work[i][1], work[i][2]
    i = i + 1
    local dep = redis.call('HGET', jkey(Q, pid), 'dep')
    for _, e in ipairs(wf_edges(dep)) do
      local cid = e[1]
      local f = redis.call('HMGET', jkey(Q, cid), 'state', 'wait', 'priority', 'queue', 'attempt')
      local wait = tonumber(f[2] or '0') or 0
      if f[1] == 'scheduled' and wait > 0 then
        if pok or e[2] then
          if wait == 1 then
            redis.call('ZREM', k(Q, 'sched'), cid)
            redis.call('HSET', jkey(Q, cid), 'wait', '0', 'run_at', now)
            move_state(Q, cid, 'scheduled', 'available')
            make_available(Q, f[4], cid, f[3], now)
          else
            redis.call('HSET', jkey(Q, cid), 'wait', tostring(wait - 1))
          end
        else
          redis.call('ZREM', k(Q, 'sched'), cid)
          redis.call('HSET', jkey(Q, cid), 'wait', '0')
          local parent = string.gsub(pid, '^0+', '')
          append_error(Q, cid, f[5], now,
                       'cancelled: parent job ' .. parent .. ' ended dead or cancelled')
          finish(Q, cid, 'scheduled', 'cancelled', now)
          work[#work + 1] = {cid, false}
        end
      end
    end
  end
end

-- The completing and failing scripts call ended() after finish().
ended = wf_propagate
