-- Why a single-job change matched nothing: the job's state, if it exists.
-- $1 id
SELECT state FROM {{table}} WHERE id = $1::bigint;
