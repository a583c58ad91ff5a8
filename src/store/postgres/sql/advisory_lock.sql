-- Session-level advisory lock (migrations).  $1 key
SELECT pg_advisory_lock($1::bigint);
