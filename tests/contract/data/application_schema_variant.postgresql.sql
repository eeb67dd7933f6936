-- The PostgreSQL version of application_schema_variant.sql. A realistic application database: the application's five tables with more columns than leadeval knows,
-- foreign keys, other indexes, and CHECK constraints in the application's vocabulary. leadeval's migrations
-- must apply to it and everything leadeval writes must pass its constraints.

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    move_in_date TEXT,
    monthly_rent DOUBLE PRECISION,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'contacted', 'ai_evaluated', 'approved', 'declined')),
    ai_score BIGINT CHECK (ai_score IS NULL OR ai_score BETWEEN 0 AND 100),
    ai_label TEXT CHECK (ai_label IS NULL OR ai_label IN ('A', 'B', 'C', 'D')),
    unit_id TEXT,
    source TEXT NOT NULL DEFAULT 'web',
    created_at TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')),
    updated_at TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))
);
CREATE INDEX idx_leads_site_status ON leads (site_id, status);

CREATE TABLE lead_documents (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL REFERENCES leads (id),
    document_type TEXT NOT NULL,
    storage_key TEXT NOT NULL UNIQUE,
    mime_type TEXT,
    original_name TEXT,
    size_bytes BIGINT,
    uploaded_at TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')),
    deleted_at TEXT
);
CREATE INDEX idx_lead_documents_lead ON lead_documents (lead_id);

CREATE TABLE ai_evaluation_usage (
    site_id TEXT NOT NULL,
    month TEXT NOT NULL,
    evaluation_count BIGINT NOT NULL DEFAULT 0 CHECK (evaluation_count >= 0),
    quota_limit BIGINT NOT NULL,
    plan TEXT NOT NULL DEFAULT 'standard',
    PRIMARY KEY (site_id, month)
);

CREATE TABLE ai_evaluation_jobs (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL REFERENCES leads (id),
    site_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    requested_by TEXT,
    requested_at TEXT NOT NULL,
    model_version TEXT,
    started_at TEXT,
    completed_at TEXT,
    evaluation_id TEXT,
    error_code TEXT,
    error_message TEXT,
    retry_count BIGINT NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries BIGINT NOT NULL DEFAULT 3,
    priority BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_ai_evaluation_jobs_status ON ai_evaluation_jobs (status, requested_at);

CREATE TABLE lead_ai_evaluations (
    id TEXT PRIMARY KEY CHECK (id LIKE 'eval_%'),
    lead_id TEXT NOT NULL REFERENCES leads (id),
    site_id TEXT NOT NULL,
    score BIGINT NOT NULL CHECK (score BETWEEN 0 AND 100),
    label TEXT NOT NULL CHECK (label IN ('A', 'B', 'C', 'D')),
    recommendation TEXT NOT NULL CHECK (recommendation IN ('approve', 'review', 'decline')),
    summary TEXT,
    risk_flags TEXT,
    fraud_signals TEXT,
    extracted_data TEXT,
    model_version TEXT,
    evaluated_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    reviewed_by TEXT
);
CREATE INDEX idx_lead_ai_evaluations_lead ON lead_ai_evaluations (lead_id, created_at);
