-- SQLite / D1 overlay of queries.sql (see its header): only the blocks whose SQL differs.

-- name: _canonical_requested_at
-- The application's requested_at in leadeval's canonical form (ISO 8601 UTC, milliseconds, Z), or NULL when
-- it is not a timestamp. Accepts what the application may write: SQLite's datetime('now')
-- ('2026-01-31 23:59:59'), ISO 8601 with Z, +00:00 or +0000 (SQLite's parser needs the colon: it is put
-- in), and fractional seconds (date and time functions: https://www.sqlite.org/lang_datefunc.html).
CASE WHEN typeof(requested_at) = 'text' THEN
    strftime('%Y-%m-%dT%H:%M:%fZ',
             CASE WHEN trim(requested_at) GLOB '*[+-][0-9][0-9][0-9][0-9]'
                  THEN substr(trim(requested_at), 1, length(trim(requested_at)) - 2) || ':'
                       || substr(trim(requested_at), -2)
                  ELSE trim(requested_at) END)
END

-- name: rescue_lost
-- As queries.sql, walking leadeval_idx_jobs_lease (state, lease) instead of every row with a message out
-- (the unary `+` keeps the planner off leadeval_idx_jobs_claim, whose (status, state) prefix would visit
-- every queued row whatever its lease).
UPDATE ai_evaluation_jobs
   SET leadeval_state = 'pending', leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL
 WHERE +status = 'pending' AND leadeval_state IN {{_message_out}}
   AND leadeval_lease_expires_at < :rescue_before
RETURNING id;

-- name: _admitted_requested_at
-- The canonical requested_at, never later than now: an application that writes a time in the future (a clock
-- ahead, local time without its offset) gets its job run now, not held back; the application's column is kept.
-- SQLite's two-argument min() is NULL when either is NULL (an unreadable requested_at stays NULL).
min(({{_canonical_requested_at}}), :now)

-- name: _table_names
SELECT name FROM sqlite_master WHERE type = 'table'

-- name: _no_reuse
-- None of the documents' hashes (:reuse_hashes, a JSON array; '[]' checks nothing) was submitted with another
-- applicant name hash than :applicant_hash: the score a result write carries assumed so (see complete()).
NOT EXISTS (SELECT 1 FROM leadeval_fingerprints
             WHERE file_sha256 IN (SELECT value FROM json_each(:reuse_hashes)) AND name_hash <> :applicant_hash)

-- name: prior_submissions
-- :hashes is a JSON array of hex digests.
SELECT file_sha256, name_hash FROM leadeval_fingerprints
 WHERE file_sha256 IN (SELECT value FROM json_each(:hashes));

-- name: insert_policy
-- A new version of a site's policy: the next number for the site, with the policy's "version" field set to
-- '<site_id>-v<n>' (what evaluations store). Two concurrent saves cannot both take the same number: the
-- loser inserts nothing (no row returned) and the caller tries again.
INSERT INTO leadeval_site_policies (site_id, version, policy_json, created_at)
SELECT :site_id, n.next_version, json_set(:policy_json, '$.version', :site_id || '-v' || n.next_version), :now
  FROM (SELECT COALESCE(MAX(version), 0) + 1 AS next_version
          FROM leadeval_site_policies WHERE site_id = :site_id) AS n
 WHERE true
ON CONFLICT (site_id, version) DO NOTHING
RETURNING site_id, version, policy_json, created_at;
