-- Migration number: 0001 	 application_schema
-- The application's own tables, as the seed worker reads and writes them. The application
-- normally creates these; IF NOT EXISTS makes this a no-op on an application database.

CREATE TABLE IF NOT EXISTS leads (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    monthly_rent_cents INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    ai_score INTEGER,
    ai_label TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_leads_site ON leads (site_id);

CREATE TABLE IF NOT EXISTS lead_documents (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    document_type TEXT NOT NULL DEFAULT 'other',
    file_name TEXT NOT NULL DEFAULT '',
    mime_type TEXT,
    storage_key TEXT NOT NULL,
    size_bytes INTEGER,
    uploaded_at TEXT NOT NULL DEFAULT (datetime('now')),
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_lead_documents_lead ON lead_documents (lead_id, site_id);

CREATE TABLE IF NOT EXISTS ai_evaluation_usage (
    site_id TEXT NOT NULL,
    month TEXT NOT NULL,
    evaluation_count INTEGER NOT NULL DEFAULT 0,
    quota_limit INTEGER NOT NULL DEFAULT 100,
    updated_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (site_id, month)
);

CREATE TABLE IF NOT EXISTS ai_evaluation_jobs (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    requested_at TEXT NOT NULL DEFAULT (datetime('now')),
    started_at TEXT,
    completed_at TEXT,
    error_code TEXT,
    error_message TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0,
    evaluation_id TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS lead_ai_evaluations (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    score INTEGER NOT NULL,
    label TEXT NOT NULL,
    recommendation TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    reasons TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_lead_ai_evaluations_lead ON lead_ai_evaluations (lead_id);
