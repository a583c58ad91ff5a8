-- Inserts a batch of jobs, all or nothing on an id collision.
-- KEYS[1]  T:all
-- ARGV[1]  T (the hash tag "{prefix}")    ARGV[2] now (us)
-- ARGV[3..] NEW_JOB_FIELDS (10) values per job: id, queue, name, identifier,
--           data, priority, max_attempts, run_at (us), timeout (us),
--           backoff_base (us)
-- Returns {'exists', id} when an id is already taken (nothing stored), else
-- {'ok', id1, inserted1, state1, id2, ...} in ARGV order; a duplicate
-- identifier reports the holder's id and state with inserted 0.
local now = ARGV[2]
local seen = {}
for at = 3, #ARGV, NEW_JOB_FIELDS do
  local id = ARGV[at]
  if seen[id] or redis.call('EXISTS', jkey(id)) == 1 then
    return {'exists', id}
  end
  seen[id] = true
end
local out = {'ok'}
for at = 3, #ARGV, NEW_JOB_FIELDS do
  local r = insert_job(at, now)
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
  out[#out + 1] = r[3]
end
return flush_then(out)
