-- Completes running jobs whose lease token matches.
-- KEYS[1]  T:all
-- ARGV[1]  T    ARGV[2] now (us)
-- ARGV[3..] 4 values per item: id, lease token, has_result ('1'/'0'), result
-- Returns the ids that were completed.
local now = ARGV[2]
local done = {}
for at = 3, #ARGV, 4 do
  local id, token = ARGV[at], ARGV[at + 1]
  local f = redis.call('HMGET', jkey(id), 'state', 'lease_token', 'queue', 'identifier')
  if f[1] == 'running' and f[2] == token then
    zrem_later(T .. ':running', id)
    finish(id, f[3], f[4], 'running', 'completed', now)
    if ARGV[at + 2] == '1' then
      redis.call('HSET', jkey(id), 'result', ARGV[at + 3])
    end
    done[#done + 1] = id
  end
end
return flush_then(done)
