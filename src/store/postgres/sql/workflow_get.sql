-- The jobs of one workflow by id.  $1 workflow id
SELECT * FROM {{table}} WHERE workflow_id = $1::bigint ORDER BY id;
