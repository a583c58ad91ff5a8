-- Workers heard from at or after $1.
SELECT id, host, pid, array_to_json(queues)::text AS queues, started_at,
       last_heartbeat_at, running, address
FROM {{table_workers}}
WHERE last_heartbeat_at >= $1::bigint
ORDER BY id;
