-- Moves a dead, cancelled, completed or retryable job back to available:
-- attempt 0, run_at now, errors kept. A job with an identifier must hold
-- its reservation first: fused, it is taken here; otherwise the client
-- takes it (job_uniq_take.lua) and passes the token.
-- KEYS[1]  Q:migrating-probe
-- ARGV[1]  C    ARGV[2] now (us)    ARGV[3] fused ('1'/'0')    ARGV[4] Q
-- ARGV[5]  id    ARGV[6] reservation token ('0' = none yet)
-- Returns {'ok', HGETALL}, {'notfound'}, {'state', state} when the state
-- does not allow it, {'identifier', holder id} when another non-final job
-- holds the identifier (fused), {'reserve', identifier} when the client
-- must take the reservation first, or {'revoked'} when the token passed
-- was revoked meanwhile.
local now, fused, Q, id, token = ARGV[2], ARGV[3] == '1', ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', jkey(Q, id), 'state', 'queue', 'identifier',
                     'priority', 'run_at', 'uniq_rev')
local state, queue, identifier = f[1], f[2], f[3]
if not state then return {'notfound'} end
if not (FINAL[state] or state == 'retryable') then return {'state', state} end
if identifier ~= '' then
  if fused then
    local t, holder = reserve_fused(identifier, id, Q)
    if not t then return {'identifier', holder} end
  elseif token == '0' then
    return {'reserve', identifier}
  elseif f[6] and tonumber(f[6]) >= tonumber(token) then
    return {'revoked'}
  end
end
unschedule(Q, id, state, f[4], f[5])
move_state(Q, id, state, 'available')
redis.call('HSET', jkey(Q, id), 'attempt', '0', 'run_at', now, 'cancel', '0')
redis.call('HDEL', jkey(Q, id), 'finished_at', 'lease_expires_at')
make_available(Q, queue, id, f[4], now)
return flush_then({'ok', redis.call('HGETALL', jkey(Q, id))})
