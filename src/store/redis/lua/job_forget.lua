-- Cluster, in the collection slot, after jobs were deleted (or never
-- stored) in their queues' slots: drops their C:dir entries and their
-- identifier reservations where C:uniq still names them (forget_jobs).
-- KEYS[1]  C:migrating-probe
-- ARGV[1]  C
-- ARGV[2..] pairs: id, identifier ('' = none)
-- Returns the number of jobs forgotten.
local jobs = {}
for at = 2, #ARGV, 2 do jobs[#jobs + 1] = {ARGV[at], ARGV[at + 1]} end
if #jobs > 0 then forget_jobs(jobs) end
return #jobs
