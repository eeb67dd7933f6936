-- Migration number: 0006 	 leadeval_operators
-- Who made an override (the operator console's `--by`, required from now on); when is created_at. Rows
-- written before this migration have NULL (unknown).
ALTER TABLE leadeval_overrides ADD COLUMN created_by TEXT;
