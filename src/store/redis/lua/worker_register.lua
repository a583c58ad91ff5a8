-- Registers (or re-registers) a worker.
-- KEYS[1]  T:workers (set of ids)    KEYS[2] T:worker:<id> (hash)
-- ARGV[1]  id    ARGV[2] host    ARGV[3] pid    ARGV[4] queues (JSON array)
-- ARGV[5]  started_at (us)    ARGV[6] now (us)    ARGV[7] address
-- Returns 1.
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'host', ARGV[2], 'pid', ARGV[3],
           'queues', ARGV[4], 'started_at', ARGV[5], 'last_heartbeat_at', ARGV[6],
           'running', '0', 'address', ARGV[7])
return 1
