-- Deletes a job that is not running.
-- KEYS[1]  Q:migrating-probe
-- ARGV[1]  C    ARGV[2] fused ('1' = also forget it in the collection
--          slot here; '0' = the client runs job_forget.lua)
-- ARGV[3]  Q    ARGV[4] id
-- Returns {'ok', identifier}, {'notfound'} or {'running'}.
local fused, Q, id = ARGV[2] == '1', ARGV[3], ARGV[4]
local state = redis.call('HGET', jkey(Q, id), 'state')
if not state then return {'notfound'} end
if state == 'running' then return {'running'} end
local identifier = delete_job(Q, id)
if fused then forget_jobs({{id, identifier}}) end
return flush_then({'ok', identifier})
