-- Inserts a cron job at most once per (schedule, fire time). The fire
-- records live in the job's queue's slot (Q:cron:<schedule>), beside the
-- job, so recording the fire and inserting are one step. Records older
-- than 7 days before this fire are pruned.
-- KEYS[1]  Q:migrating-probe
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] fused ('1' = also check the id
--          in C:dir, write it, register the queue and reserve the
--          identifier here; '0' = job_reserve.lua did, token passed)
-- ARGV[4]  fire time (us)    ARGV[5] schedule    ARGV[6] Q
-- ARGV[7]  queue name    ARGV[8..] the job's JOB_FIELDS (11) values, as in
--          job_insert_many.lua
-- Returns 1 when this call inserted the job, 0 when the fire was already
-- recorded (or, fused, a non-final job holds the identifier), -1 when the
-- job id is taken (nothing stored; the caller retries with a new id), -2
-- when the reservation passed was revoked (nothing stored).
local now, fused, fire, schedule, Q, queue =
  ARGV[2], ARGV[3] == '1', ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local id, identifier = ARGV[8], ARGV[10]
if fused then
  if redis.call('HEXISTS', C .. ':dir', id) == 1 then return -1 end
elseif redis.call('EXISTS', jkey(Q, id)) == 1 then
  return -1
elseif identifier ~= '' and insert_revoked(Q, id, ARGV[17]) then
  return -2
end
local fires = k(Q, 'cron', schedule)
if redis.call('ZADD', fires, 'NX', fire, fire) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', fires, '-inf',
           '(' .. string.format('%d', tonumber(fire) - 604800000000))
if fused then
  if identifier ~= '' and not reserve_fused(identifier, id, Q) then
    return flush_then(0)
  end
  redis.call('SADD', C .. ':queues', queue)
  hset_later(C .. ':dir', id, Q)
end
insert_job(Q, queue, 8, now)
return flush_then(1)
