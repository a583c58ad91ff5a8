-- Records a registered worker's heartbeat; never revives a deregistered one.
-- KEYS[1]  T:workers    KEYS[2] T:worker:<id>
-- ARGV[1]  running    ARGV[2] now (us)
-- Returns 1, or 0 when the worker is not registered.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'running', ARGV[1], 'last_heartbeat_at', ARGV[2])
return 1
