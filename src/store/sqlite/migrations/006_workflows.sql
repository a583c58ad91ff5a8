-- Migration 006: workflows (docs/composition.md). A workflow job records its
-- workflow, its parent and dependant edges (store/workflow.h text form:
-- "17,18~", '' = none) and how many parents it still waits for; a waiting
-- job is 'scheduled' with run_at far in the future, so no claim sees it.
ALTER TABLE "{{table}}" ADD COLUMN workflow_id INTEGER;
ALTER TABLE "{{table}}" ADD COLUMN parents TEXT NOT NULL DEFAULT '';
ALTER TABLE "{{table}}" ADD COLUMN dependants TEXT NOT NULL DEFAULT '';
ALTER TABLE "{{table}}" ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0
  CHECK (waiting >= 0);
CREATE INDEX "{{table}}_workflow_idx" ON "{{table}}" (workflow_id, id)
  WHERE workflow_id IS NOT NULL;
