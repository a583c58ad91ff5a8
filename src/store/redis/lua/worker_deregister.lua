-- Removes a worker from the registry.
-- KEYS[1]  T:workers    KEYS[2] T:worker:<id>
-- ARGV[1]  id
-- Returns 1 when it was registered, 0 otherwise.
redis.call('DEL', KEYS[2])
return redis.call('SREM', KEYS[1], ARGV[1])
