-- Inserts every job of one workflow (a primary-key conflict fails the whole
-- statement). One pg_notify per queue that received available jobs.
--   $1 id[]  $2 queue[]  $3 name[]  $4 data[]  $5 priority[]
--   $6 max_attempts[]  $7 run_at[]  $8 timeout_us[]  $9 backoff_base_us[]
--   $10 state[]  $11 parents[]  $12 dependants[]  $13 waiting[]
--   $14 workflow id  $15 now  $16 notification channel
--   $17 metadata[] (NULL = none)
WITH inserted AS (
  INSERT INTO {{table}}
    (id, queue, name, identifier, data, priority, state, max_attempts, run_at,
     created_at, timeout_us, backoff_base_us, workflow_id, parents, dependants,
     waiting, metadata)
  SELECT id, queue, name, '', data, priority, state, max_attempts, run_at,
         $15::bigint, timeout_us, backoff_base_us, $14::bigint, parents,
         dependants, waiting, metadata
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
              $5::integer[], $6::integer[], $7::bigint[], $8::bigint[],
              $9::bigint[], $10::text[], $11::text[], $12::text[],
              $13::integer[], $17::text[])
       AS t(id, queue, name, data, priority, max_attempts, run_at,
            timeout_us, backoff_base_us, state, parents, dependants, waiting,
            metadata)
  RETURNING queue, state
)
SELECT (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(pg_notify($16::text, q.queue))
        FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available')
             AS q) AS notified;
