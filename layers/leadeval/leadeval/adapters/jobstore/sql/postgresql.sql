-- PostgreSQL overlay of queries.sql (see its header): only the blocks whose SQL differs, plus the
-- PostgreSQL-only statements PostgresJobStore.migrate() runs (advisory lock, the timestamp parser).
--
-- psycopg 3 binds str and None as "unknown", so a parameter whose type PostgreSQL cannot infer carries an
-- explicit CAST. Under READ COMMITTED an UPDATE that waited for a concurrent writer re-checks its WHERE
-- clause against the committed row, so a statement that loses a race changes nothing.

-- name: migration_lock
-- Session-level advisory lock held while migrate() runs, so two migrators never interleave (released by
-- migration_unlock, or by the server when the connection ends).
SELECT pg_advisory_lock(7408451123) AS locked;

-- name: migration_unlock
SELECT pg_advisory_unlock(7408451123) AS unlocked;

-- name: timestamp_function
-- leadeval_ts(text) -> timestamptz: parses 'YYYY-MM-DD', 'YYYY-MM-DD[T| ]HH:MM[:SS[.fff]]' with an optional
-- zone (Z, +hh, +hhmm, +hh:mm). No zone means UTC. Anything else gives NULL, so one malformed row cannot
-- break a sweep. IMMUTABLE (it is, for the accepted ISO forms: neither DateStyle nor TimeZone changes their
-- meaning).
CREATE OR REPLACE FUNCTION leadeval_ts(value text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN btrim(value) !~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}'
                       '([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$')
            THEN NULL
        WHEN substr(btrim(value), 11) ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$'
            THEN btrim(value)::timestamptz
        ELSE btrim(value)::timestamp AT TIME ZONE 'UTC'
    END
$fn$;

-- name: sqlite_datetime_function
-- datetime(text) -> text, SQLite's datetime() for the forms the application writes in SQL (datetime('now')
-- and a timestamp to normalise), in SQLite's format 'YYYY-MM-DD HH:MM:SS' (UTC). Created only by
-- PostgresJobStore.create_application_tables(), in databases leadeval creates, so the application's own
-- statements (e.g. the manual test's INSERT ... datetime('now')) run there as they are.
CREATE OR REPLACE FUNCTION datetime(value text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT to_char(CASE WHEN lower(btrim(value)) = 'now' THEN now() ELSE leadeval_ts(value) END AT TIME ZONE 'UTC',
                   'YYYY-MM-DD HH24:MI:SS')
$fn$;

-- name: _canonical_requested_at
-- The application's requested_at in leadeval's canonical form (ISO 8601 UTC, milliseconds, Z), or NULL when
-- it is not a timestamp (see leadeval_ts). The CAST lets an application column of type timestamptz work too.
to_char(leadeval_ts(CAST(requested_at AS text)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')

-- name: _admitted_requested_at
-- As sqlite.sql: never later than now. LEAST ignores NULLs, so the NULL of an unreadable value is kept by CASE.
CASE WHEN ({{_canonical_requested_at}}) IS NULL THEN NULL ELSE LEAST(({{_canonical_requested_at}}), :now) END

-- name: _table_names
SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()

-- name: reject_new_rows
-- As queries.sql, with the candidates locked and rows another sweep holds skipped (FOR UPDATE SKIP LOCKED):
-- concurrent sweeps take disjoint sets of new rows instead of waiting for each other.
WITH new AS (
    SELECT id FROM ai_evaluation_jobs WHERE {{_is_new}}
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
)
UPDATE ai_evaluation_jobs AS j
   SET status = 'failed', leadeval_state = 'failed', error_code = 'InvalidJobRow',
       error_message = CASE WHEN ({{_canonical_requested_at}}) IS NULL
                            THEN 'requested_at is not a timestamp leadeval can read (ISO 8601 or YYYY-MM-DD HH:MM:SS)'
                            ELSE 'max_retries allows no attempt' END,
       completed_at = :now, updated_at = :now
  FROM new
 WHERE j.id = new.id AND {{_is_new}}
   AND (({{_canonical_requested_at}}) IS NULL OR max_retries < 1)
RETURNING j.id, j.error_message;

-- name: admit_new_rows
-- As queries.sql, with the candidates locked and rows another sweep holds skipped (see reject_new_rows).
WITH new AS (
    SELECT id FROM ai_evaluation_jobs WHERE {{_is_new}}
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
)
UPDATE ai_evaluation_jobs AS j
   SET leadeval_generation = leadeval_generation
                             + CASE WHEN leadeval_state IS NULL OR leadeval_state = 'pending' THEN 0 ELSE 1 END,
       retry_count = CASE WHEN leadeval_state IS NULL OR leadeval_state = 'pending' THEN retry_count ELSE 0 END,
       leadeval_state = 'pending',
       leadeval_requested_at = {{_admitted_requested_at}},
       leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL, leadeval_dead_lettered_at = NULL
  FROM new
 WHERE j.id = new.id AND {{_is_new}}
   AND ({{_canonical_requested_at}}) IS NOT NULL AND max_retries >= 1
RETURNING j.id;

-- name: claim_due
-- One statement (Oban/River): the CTE picks and locks due rows in claim order, skipping rows another sweep
-- holds (FOR UPDATE SKIP LOCKED), and fences the LIMIT from the UPDATE; the outer state re-check makes a
-- lost race a no-op. Two sweeps never claim the same job.
WITH due AS (
    SELECT id FROM ai_evaluation_jobs
     WHERE status = 'pending' AND leadeval_state = 'pending' AND leadeval_requested_at <= CAST(:now AS text)
     ORDER BY leadeval_requested_at, id
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
)
UPDATE ai_evaluation_jobs AS j
   SET leadeval_state = 'queued', leadeval_queued_at = :now, leadeval_lease_expires_at = :lease_until
  FROM due
 WHERE j.id = due.id AND j.status = 'pending' AND j.leadeval_state = 'pending'
RETURNING j.id, j.site_id, j.lead_id, j.leadeval_generation, j.leadeval_requested_at;

-- name: _no_reuse
-- As sqlite.sql: no hash of :reuse_hashes (a JSON array) came with another applicant name hash.
NOT EXISTS (SELECT 1 FROM leadeval_fingerprints
             WHERE file_sha256 = ANY (ARRAY(SELECT jsonb_array_elements_text(CAST(:reuse_hashes AS jsonb))))
               AND name_hash <> CAST(:applicant_hash AS text))

-- name: prior_submissions
-- :hashes is a JSON array of hex digests.
SELECT file_sha256, name_hash FROM leadeval_fingerprints
 WHERE file_sha256 = ANY (ARRAY(SELECT jsonb_array_elements_text(CAST(:hashes AS jsonb))));

-- name: insert_policy
-- A new version of a site's policy: the next number for the site, with the policy's "version" field set to
-- '<site_id>-v<n>' (what evaluations store). Two concurrent saves may compute the same number; the loser
-- inserts nothing (ON CONFLICT DO NOTHING, no row returned) and the caller tries again.
INSERT INTO leadeval_site_policies (site_id, version, policy_json, created_at)
SELECT CAST(:site_id AS text), n.next_version,
       jsonb_set(CAST(:policy_json AS jsonb), '{version}',
                 to_jsonb(CAST(:site_id AS text) || '-v' || n.next_version))::text,
       CAST(:now AS text)
  FROM (SELECT COALESCE(MAX(version), 0) + 1 AS next_version
          FROM leadeval_site_policies WHERE site_id = CAST(:site_id AS text)) AS n
ON CONFLICT (site_id, version) DO NOTHING
RETURNING site_id, version, policy_json, created_at;
