-- The application's five tables, exactly as the application creates them: every column the original
-- job processor reads or writes, with its type. The application owns them (in D1 in production); its
-- schema is a contract: leadeval never renames, retypes or drops these columns, and writes them only in
-- their own shape and vocabulary (`ai_evaluation_jobs.status` is one of pending, processing, completed,
-- failed; `leads.monthly_rent` is dollars). Real application databases have more columns, indexes,
-- foreign keys and CHECK constraints; leadeval depends on none of them being absent.
--
-- The PostgreSQL version of application_schema.sqlite.sql, for `leadeval db init` on an empty PostgreSQL
-- database: the same tables and columns (SQLite INTEGER -> BIGINT, REAL -> DOUBLE PRECISION; timestamps stay
-- text, and datetime('now') defaults become the same instant as ISO 8601 UTC text).

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    move_in_date TEXT,
    monthly_rent DOUBLE PRECISION,
    status TEXT NOT NULL DEFAULT 'new',
    ai_score BIGINT,
    ai_label TEXT,
    created_at TEXT NOT NULL DEFAULT (to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    updated_at TEXT NOT NULL DEFAULT (to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);

CREATE TABLE lead_documents (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    document_type TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    mime_type TEXT,
    uploaded_at TEXT NOT NULL DEFAULT (to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    deleted_at TEXT
);

CREATE TABLE ai_evaluation_usage (
    site_id TEXT NOT NULL,
    month TEXT NOT NULL,               -- 'YYYY-MM'
    evaluation_count BIGINT NOT NULL DEFAULT 0,
    quota_limit BIGINT NOT NULL,
    PRIMARY KEY (site_id, month)
);

CREATE TABLE ai_evaluation_jobs (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    requested_by TEXT,
    requested_at TEXT NOT NULL,
    model_version TEXT,                -- e.g. '@cf/meta/llama-3.2-11b-vision-instruct'
    started_at TEXT,
    completed_at TEXT,
    evaluation_id TEXT,
    error_code TEXT,
    error_message TEXT,
    retry_count BIGINT NOT NULL DEFAULT 0,
    max_retries BIGINT NOT NULL DEFAULT 3,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE lead_ai_evaluations (
    id TEXT PRIMARY KEY,               -- 'eval_' + nanoid()
    lead_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    score BIGINT NOT NULL,
    label TEXT NOT NULL,
    recommendation TEXT NOT NULL,
    summary TEXT,
    risk_flags TEXT,                   -- JSON
    fraud_signals TEXT,                -- JSON
    extracted_data TEXT,               -- JSON
    model_version TEXT,
    evaluated_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
