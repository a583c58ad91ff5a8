-- Inserts a batch of jobs of one or more queues (of one slot on a
-- cluster), all or nothing on an id collision.
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] now (us)
-- ARGV[3]  fused: '1' = also check ids against C:dir, write it, register
--          the queues and reserve identifiers here (single node); '0' =
--          job_reserve.lua did that and passes each job's token
-- ARGV[4]  n, then n queue names to add to C:queues (fused only)
-- ARGV[5+n..] per job: Q, queue name, then JOB_FIELDS (11) values: id,
--          name, identifier, data, priority, max_attempts, run_at (us),
--          timeout (us), backoff_base (us), token (of the reservation; '0'
--          if fused or without identifier), metadata ('' = none)
-- Returns {'exists', id} when an id is already taken (nothing stored), else
-- {'ok', id1, inserted1, state1, id2, ...} in ARGV order. A duplicate
-- identifier reports the live holder's id and state with inserted 0
-- (fused); state 'revoked' with inserted 0 means the job's reservation was
-- revoked before it got here and it was not stored (non-fused).
local now, fused, nreg = ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
local jobs = {}
for at = 5 + nreg, #ARGV, 2 + JOB_FIELDS do
  jobs[#jobs + 1] = {ARGV[at], ARGV[at + 1], at + 2}
end

local seen = {}
for _, job in ipairs(jobs) do
  local id = ARGV[job[3]]
  if seen[id] then return {'exists', id} end
  seen[id] = true
end
if fused then
  for i = 1, #jobs, CHUNK do
    local ids = {}
    for j = i, math.min(#jobs, i + CHUNK - 1) do ids[#ids + 1] = ARGV[jobs[j][3]] end
    local found = redis.call('HMGET', C .. ':dir', unpack(ids))
    for j, v in ipairs(found) do
      if v then return {'exists', ids[j]} end
    end
  end
  if nreg > 0 then redis.call('SADD', C .. ':queues', unpack(ARGV, 5, 4 + nreg)) end
else
  for _, job in ipairs(jobs) do
    local id = ARGV[job[3]]
    if redis.call('EXISTS', jkey(job[1], id)) == 1 then return {'exists', id} end
  end
end

local out = {'ok'}
for _, job in ipairs(jobs) do
  local Q, queue, a = job[1], job[2], job[3]
  local id, identifier = ARGV[a], ARGV[a + 2]
  local holder, holder_state
  if identifier ~= '' then
    if fused then
      local token
      token, holder, holder_state = reserve_fused(identifier, id, Q)
    elseif insert_revoked(Q, id, ARGV[a + 9]) then
      holder, holder_state = id, 'revoked'
    end
  end
  if holder then
    out[#out + 1] = holder
    out[#out + 1] = 0
    out[#out + 1] = holder_state
  else
    out[#out + 1] = id
    out[#out + 1] = 1
    out[#out + 1] = insert_job(Q, queue, a, now)
    if fused then hset_later(C .. ':dir', id, Q) end
  end
end
return flush_then(out)
