-- Migration number: 0002 	 leadeval_lifecycle
-- Columns and tables this service adds: the job lifecycle (generation, attempts, lease,
-- dead-lettering), the evaluation's audit fields, the lead's voucher share and move-in date,
-- and the cross-site document fingerprint index (hashes only).

ALTER TABLE ai_evaluation_jobs ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ai_evaluation_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ai_evaluation_jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE ai_evaluation_jobs ADD COLUMN lease_expires_at TEXT;
ALTER TABLE ai_evaluation_jobs ADD COLUMN queued_at TEXT;
ALTER TABLE ai_evaluation_jobs ADD COLUMN dead_lettered_at TEXT;
CREATE INDEX IF NOT EXISTS idx_ai_evaluation_jobs_due ON ai_evaluation_jobs (status, requested_at);
CREATE INDEX IF NOT EXISTS idx_ai_evaluation_jobs_lease ON ai_evaluation_jobs (status, lease_expires_at);

ALTER TABLE leads ADD COLUMN voucher_amount_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leads ADD COLUMN move_in_date TEXT;

ALTER TABLE lead_ai_evaluations ADD COLUMN documents TEXT NOT NULL DEFAULT '[]';
ALTER TABLE lead_ai_evaluations ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE lead_ai_evaluations ADD COLUMN monthly_income_cents INTEGER;
ALTER TABLE lead_ai_evaluations ADD COLUMN income_to_rent_ratio REAL;
ALTER TABLE lead_ai_evaluations ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
ALTER TABLE lead_ai_evaluations ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE lead_ai_evaluations ADD COLUMN model_version TEXT;
ALTER TABLE lead_ai_evaluations ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_ai_evaluations ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_ai_evaluations ADD COLUMN input_hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS uq_lead_ai_evaluations_job ON lead_ai_evaluations (job_id);

CREATE TABLE IF NOT EXISTS document_fingerprints (
    file_sha256 TEXT NOT NULL,
    name_hash TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (file_sha256, name_hash)
);
