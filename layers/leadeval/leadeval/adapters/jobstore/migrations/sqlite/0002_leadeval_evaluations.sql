-- Migration number: 0002 	 leadeval_evaluations
-- What leadeval keeps beside the application's lead_ai_evaluations row (which it writes in the
-- application's shape: score, label, recommendation, summary, risk_flags, fraud_signals, extracted_data,
-- model_version, evaluated_at): the job and generation it answers, the reasons, per-document results,
-- the flags, the income figures, the policy version, the model and its token usage, and an input hash.
-- One row per evaluation (evaluation_id = lead_ai_evaluations.id); one evaluation per job generation.

CREATE TABLE IF NOT EXISTS leadeval_evaluations (
    evaluation_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    lead_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    documents TEXT NOT NULL DEFAULT '[]',
    flags TEXT NOT NULL DEFAULT '[]',
    monthly_income_cents INTEGER,
    income_to_rent_ratio REAL,
    policy_version TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    input_hash TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS leadeval_uq_evaluations_job ON leadeval_evaluations (job_id, generation);
CREATE INDEX IF NOT EXISTS leadeval_idx_evaluations_lead ON leadeval_evaluations (lead_id);

-- The part of a lead's rent a housing voucher pays, in cents (0: none). The application does not know
-- vouchers; `leadeval evaluate --voucher-amount` sets it for a lead it creates.
ALTER TABLE leads ADD COLUMN leadeval_voucher_cents INTEGER NOT NULL DEFAULT 0;

-- The cross-site index of submitted files: hashes only (the file's sha256 and a hash of the applicant's
-- name), no ids and no tenant data, so every site can share it.
CREATE TABLE IF NOT EXISTS leadeval_fingerprints (
    file_sha256 TEXT NOT NULL,
    name_hash TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (file_sha256, name_hash)
);
