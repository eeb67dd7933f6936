-- Migration number: 0007 	 leadeval_claim_groups
-- A worker invocation claims the jobs of its records in one request and writes their results in one (D1
-- requests per job, docs/architecture.md "Claim groups"). A crash of such a claim cannot say which job caused
-- it, so it counts as no job's attempt; it marks every job it held to be claimed alone from then on, where a
-- crash counts as before.
--   leadeval_claim_group   how many records the claim holding the job was made for (1: alone)
--   leadeval_solo          1: a group claim holding the job crashed; the job is claimed alone from now on
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_claim_group INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_solo INTEGER NOT NULL DEFAULT 0;
