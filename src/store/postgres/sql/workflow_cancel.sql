-- A parent of waiting job $1 ended dead or cancelled: the job is cancelled,
-- the reason appended to errors. Returns its dependant edges (no row when it
-- no longer waited).
--   $1 id  $2 now  $3 now in unix ms  $4 message
UPDATE {{table}}
SET state = 'cancelled',
    finished_at = $2::bigint,
    waiting = 0,
    errors = errors || jsonb_build_array(jsonb_build_object(
               'attempt', attempt, 'at', $3::bigint, 'message', $4::text))
WHERE id = $1::bigint AND state = 'scheduled' AND waiting > 0
RETURNING dependants;
