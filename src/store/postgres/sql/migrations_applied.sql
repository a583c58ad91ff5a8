SELECT version FROM {{table_migrations}} ORDER BY version;
