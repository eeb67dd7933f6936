-- Migration number: 0006 	 leadeval_operators
-- Who made an override (the operator console's `--by`, required from now on); when is created_at. Rows
-- written before this migration have NULL (unknown).
ALTER TABLE leadeval_overrides ADD COLUMN created_by TEXT;

-- Cost inputs per evaluation (`leadeval usage`), beside its prompt_tokens and completion_tokens: pages prepared
-- (PDF pages; an image counts 1) and the worker's milliseconds on the evaluation (fetch, prepare, model, score).
-- Rows written before this migration: pages 0, worker_ms NULL (unknown).
ALTER TABLE leadeval_evaluations ADD COLUMN pages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leadeval_evaluations ADD COLUMN worker_ms INTEGER;
