-- Migration number: 0003 	 leadeval_policies_overrides
-- People stay in charge: per-site scoring policies, versioned and never edited in place, and a property
-- manager's overrides of a recommendation, kept beside the evaluation (never replacing it).

-- One row per saved version of a site's policy. version counts 1, 2, 3 ... per site; the worker uses the
-- highest. policy_json is the complete ScoringPolicy (defaults filled in) whose "version" field reads
-- '<site_id>-v<version>': the value every evaluation stores in policy_version.
CREATE TABLE IF NOT EXISTS leadeval_site_policies (
    site_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    policy_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (site_id, version)
);

-- A person's decision on an evaluation, with the reason. Append-only: a later override of the same
-- evaluation supersedes an earlier one for display, and both stay as the audit trail.
CREATE TABLE IF NOT EXISTS leadeval_overrides (
    id TEXT PRIMARY KEY,
    evaluation_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    recommendation TEXT NOT NULL CHECK (recommendation IN ('approve', 'review', 'decline')),
    reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leadeval_idx_overrides_job ON leadeval_overrides (job_id);
CREATE INDEX IF NOT EXISTS leadeval_idx_overrides_evaluation ON leadeval_overrides (evaluation_id);
