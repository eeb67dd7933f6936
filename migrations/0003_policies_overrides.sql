-- Migration number: 0003 	 policies_overrides
-- People stay in charge (DESIGN §5.6): per-site scoring policies, versioned and never edited in
-- place; a property manager's overrides of a recommendation, kept beside the evaluation (never
-- replacing it); and an index so a lead's history (every job, evaluation, override) is one lookup.
-- PostgreSQL applies this file through translate_sqlite_ddl (INTEGER -> BIGINT; the rest is shared).

-- One row per saved version of a site's policy. version counts 1, 2, 3 ... per site; the worker
-- uses the highest. policy_json is the complete ScoringPolicy (defaults filled in) whose "version"
-- field reads '<site_id>-v<version>': the value every evaluation stores in policy_version.
CREATE TABLE IF NOT EXISTS site_scoring_policies (
    site_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    policy_json TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (site_id, version)
);

-- A person's decision on an evaluation, with the reason. Append-only: a later override of the same
-- evaluation supersedes an earlier one for display, and both stay as the audit trail.
CREATE TABLE IF NOT EXISTS evaluation_overrides (
    id TEXT PRIMARY KEY,
    evaluation_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    recommendation TEXT NOT NULL CHECK (recommendation IN ('approve', 'review', 'decline')),
    reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_evaluation_overrides_job ON evaluation_overrides (job_id);
CREATE INDEX IF NOT EXISTS idx_evaluation_overrides_evaluation ON evaluation_overrides (evaluation_id);

-- A lead's jobs (first evaluation and re-evaluations) for `leadeval leads history`.
CREATE INDEX IF NOT EXISTS idx_ai_evaluation_jobs_lead ON ai_evaluation_jobs (lead_id);
