-- Deletes a job that is not running.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] id
-- Returns 'ok', 'notfound' or 'running'.
local id = ARGV[2]
local state = redis.call('HGET', jkey(id), 'state')
if not state then return 'notfound' end
if state == 'running' then return 'running' end
delete_job(id)
return flush_then('ok')
