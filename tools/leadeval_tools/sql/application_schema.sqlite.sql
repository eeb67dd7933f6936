-- The application's five tables, exactly as the application creates them: every column the original
-- job processor reads or writes, with its type. The application owns them (in D1 in production); its
-- schema is a contract: leadeval never renames, retypes or drops these columns, and writes them only in
-- their own shape and vocabulary (`ai_evaluation_jobs.status` is one of pending, processing, completed,
-- failed; `leads.monthly_rent` is dollars). Real application databases have more columns, indexes,
-- foreign keys and CHECK constraints; leadeval depends on none of them being absent.
--
-- leadeval runs this file only to create these tables in an empty embedded or test database
-- (`leadeval db init`); `leadeval db migrate` then adds leadeval's own columns and tables. The
-- statements must stay identical to the application's (tests/contract/test_application_database.py
-- compares them with the application's copy when it is available).

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    move_in_date TEXT,
    monthly_rent REAL,
    status TEXT NOT NULL DEFAULT 'new',
    ai_score INTEGER,
    ai_label TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE lead_documents (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    document_type TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    mime_type TEXT,
    uploaded_at TEXT NOT NULL DEFAULT (datetime('now')),
    deleted_at TEXT
);

CREATE TABLE ai_evaluation_usage (
    site_id TEXT NOT NULL,
    month TEXT NOT NULL,               -- 'YYYY-MM'
    evaluation_count INTEGER NOT NULL DEFAULT 0,
    quota_limit INTEGER NOT NULL,
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
    retry_count INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL DEFAULT 3,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE lead_ai_evaluations (
    id TEXT PRIMARY KEY,               -- 'eval_' + nanoid()
    lead_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    score INTEGER NOT NULL,
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
