-- Params: :version, :applied_at.
INSERT INTO "{{table}}_schema_migrations" (version, applied_at)
VALUES (:version, :applied_at);
