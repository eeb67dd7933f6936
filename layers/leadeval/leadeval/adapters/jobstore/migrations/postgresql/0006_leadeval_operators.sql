-- Migration number: 0006 	 leadeval_operators
-- PostgreSQL version of ../sqlite/0006_leadeval_operators.sql (ADD COLUMN IF NOT EXISTS).
-- Who made an override (the operator console's `--by`, required from now on); when is created_at. Rows
-- written before this migration have NULL (unknown).
ALTER TABLE leadeval_overrides ADD COLUMN IF NOT EXISTS created_by TEXT;
