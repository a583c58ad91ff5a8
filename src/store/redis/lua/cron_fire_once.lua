-- Inserts a cron job at most once per (schedule, fire time). Fire records
-- older than 7 days before this fire are pruned.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)    ARGV[3] fire time (us)    ARGV[4] schedule
-- ARGV[5..] the job's NEW_JOB_FIELDS (10) values, as in job_insert_many.lua
-- Returns 1 when this call inserted the job, 0 when the fire was already
-- recorded (or a non-final job holds the identifier), -1 when the job id is
-- taken (nothing stored; the caller retries with a new id).
if redis.call('EXISTS', jkey(ARGV[5])) == 1 then return -1 end
local fires = k('cron', ARGV[4])
if redis.call('ZADD', fires, 'NX', ARGV[3], ARGV[3]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', fires, '-inf',
           '(' .. string.format('%d', tonumber(ARGV[3]) - 604800000000))
local r = insert_job(5, ARGV[2])
return flush_then(r[2])
