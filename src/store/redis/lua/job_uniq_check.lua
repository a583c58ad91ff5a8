-- Cluster, in the slot of the holders' queues: whether the jobs named by
-- identifier reservations hold them (check_holder in lib.lua). Stale
-- holders get the token revoked; missing ones too when `revoke` is set
-- (the client first waits a moment for an insert still on its way).
-- KEYS[1]  <tag>:migrating-probe of the slot
-- ARGV[1]  C    ARGV[2] revoke missing holders ('1'/'0')
-- ARGV[3..] triples: Q, id, token
-- Returns per triple, in order: 'live', state | 'stale', '' | 'missing', ''.
local revoke = ARGV[2] == '1'
local out = {}
for at = 3, #ARGV, 3 do
  local r, state = check_holder(ARGV[at], ARGV[at + 1], ARGV[at + 2], revoke)
  out[#out + 1] = r
  out[#out + 1] = state or ''
end
return out
