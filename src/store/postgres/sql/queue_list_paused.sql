SELECT name, paused FROM {{table_queues}} ORDER BY name;
