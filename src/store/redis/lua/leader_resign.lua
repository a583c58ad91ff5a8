-- Gives up a leadership if the caller holds it.
-- KEYS[1]  T:leader:<name>
-- ARGV[1]  leader id
-- Returns 1 when it was held and is now free, 0 otherwise.
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
