-- Params: one workflow job. Fails with a primary-key constraint when :id is
-- taken.
INSERT INTO "{{table}}" (id, queue, name, identifier, data, priority, state,
                         max_attempts, run_at, created_at, timeout_us,
                         backoff_base_us, workflow_id, parents, dependants,
                         waiting, metadata)
VALUES (:id, :queue, :name, '', :data, :priority, :state,
        :max_attempts, :run_at, :created_at, :timeout_us, :backoff_base_us,
        :workflow_id, :parents, :dependants, :waiting, NULLIF(:metadata, ''));
