-- Migration number: 0007 	 leadeval_claim_groups
-- PostgreSQL version of ../sqlite/0007_leadeval_claim_groups.sql (ADD COLUMN IF NOT EXISTS).
--   leadeval_claim_group   how many records the claim holding the job was made for (1: alone)
--   leadeval_solo          1: a group claim holding the job crashed; the job is claimed alone from now on
ALTER TABLE ai_evaluation_jobs ADD COLUMN IF NOT EXISTS leadeval_claim_group INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ai_evaluation_jobs ADD COLUMN IF NOT EXISTS leadeval_solo INTEGER NOT NULL DEFAULT 0;
