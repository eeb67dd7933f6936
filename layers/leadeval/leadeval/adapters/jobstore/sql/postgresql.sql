-- leadeval job-store queries, PostgreSQL dialect (PostgresJobStore, psycopg 3).
--
-- Same query names, parameters and semantics as sqlite.sql. Parameters are named (`:name`); the
-- executor rewrites them to psycopg's `%(name)s` (skipping `::casts`, string literals, quoted
-- identifiers, comments and dollar quotes).
--
-- Timestamps stay TEXT (the same strings as SQLite and D1: rows written by the application carry
-- '2026-01-31T23:59:59.123Z' or '2026-01-31 23:59:59') and are compared through leadeval_ts(),
-- which parses both into timestamptz (UTC when no zone is given); never as raw strings.
--
-- Typing: psycopg 3 binds str and None as "unknown", so a parameter whose type PostgreSQL cannot
-- infer from its context (`:x IS NULL`, the select list of INSERT ... SELECT) carries an explicit
-- CAST. Ties on ids sort with COLLATE "C" (byte order, as SQLite's BINARY collation).
--
-- Every transition is guarded by the status (and generation, lease) it expects. Under READ
-- COMMITTED an UPDATE that waited for a concurrent writer re-checks its WHERE clause against the
-- committed row, so a statement that loses a race changes nothing (the guard River #1302 lacked).

-- name: migration_lock
-- Session-level advisory lock held while migrate() runs, so two migrators never interleave
-- (released by migration_unlock, or by the server when the connection ends).
SELECT pg_advisory_lock(7408451123) AS locked;

-- name: migration_unlock
SELECT pg_advisory_unlock(7408451123) AS unlocked;

-- name: timestamp_function
-- leadeval_ts(text) -> timestamptz: parses 'YYYY-MM-DD', 'YYYY-MM-DD[T| ]HH:MM[:SS[.fff]]' with an
-- optional zone (Z, +hh, +hhmm, +hh:mm). No zone means UTC. Anything else gives NULL (like SQLite's
-- julianday()), so one malformed row cannot break a sweep. Declared IMMUTABLE (it is, for the
-- accepted ISO forms: neither DateStyle nor TimeZone changes their meaning), so it can be indexed;
-- an index on it must be rebuilt (REINDEX) if this body ever changes meaning.
CREATE OR REPLACE FUNCTION leadeval_ts(value text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN value !~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}'
                       '([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$')
            THEN NULL
        WHEN substr(value, 11) ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$'
            THEN value::timestamptz
        ELSE value::timestamp AT TIME ZONE 'UTC'
    END
$fn$;

-- name: due_index
-- PostgreSQL-only index for claim_due (partial: pending jobs, in claim order). Created by
-- PostgresJobStore.migrate() after the migration files; not part of the shared schema.
CREATE INDEX IF NOT EXISTS idx_ai_evaluation_jobs_pending_ts_pg
    ON ai_evaluation_jobs (leadeval_ts(requested_at), id COLLATE "C")
 WHERE status = 'pending';

-- name: rescue_exhausted
-- Long-expired queued/processing jobs whose attempts are spent: failed (no message will fix them).
UPDATE ai_evaluation_jobs
   SET status = 'failed',
       error_code = 'AttemptsExhausted',
       error_message = 'attempts spent and the last one never finished '
                       '(worker crashed, timed out or its message was lost)',
       completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE status IN ('queued', 'processing')
   AND lease_expires_at IS NOT NULL
   AND leadeval_ts(lease_expires_at) < leadeval_ts(:rescue_before)
   AND attempts >= max_attempts
RETURNING id;

-- name: rescue_to_pending
-- Long-expired queued/processing jobs with attempts left: back to pending for the claim below.
UPDATE ai_evaluation_jobs
   SET status = 'pending', queued_at = NULL, lease_expires_at = NULL, updated_at = :now
 WHERE status IN ('queued', 'processing')
   AND lease_expires_at IS NOT NULL
   AND leadeval_ts(lease_expires_at) < leadeval_ts(:rescue_before)
   AND attempts < max_attempts
RETURNING id;

-- name: claim_due
-- One statement (Oban/River): the CTE picks and locks due pending rows, skipping rows another
-- sweep holds (FOR UPDATE SKIP LOCKED), and fences the LIMIT from the UPDATE; the outer
-- `status = 'pending'` re-check makes a lost race a no-op. Two sweeps never claim the same job.
WITH due AS (
    SELECT id FROM ai_evaluation_jobs
     WHERE status = 'pending' AND leadeval_ts(requested_at) <= leadeval_ts(:now)
     ORDER BY leadeval_ts(requested_at), id COLLATE "C"
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
)
UPDATE ai_evaluation_jobs AS j
   SET status = 'queued', queued_at = :now, lease_expires_at = :lease_until, updated_at = :now
  FROM due
 WHERE j.id = due.id AND j.status = 'pending'
RETURNING j.*;

-- name: release
-- A job whose message SQS rejected goes back to pending.
UPDATE ai_evaluation_jobs
   SET status = 'pending', queued_at = NULL, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND status = 'queued' AND generation = :generation
RETURNING id;

-- name: claim_job
-- The worker's claim: pending/queued, or processing with an expired lease (a crashed attempt).
UPDATE ai_evaluation_jobs
   SET status = 'processing', attempts = attempts + 1, started_at = :now,
       lease_expires_at = :lease_until, updated_at = :now
 WHERE id = :job_id AND generation = :generation AND attempts < max_attempts
   AND (status IN ('pending', 'queued')
        OR (status = 'processing' AND leadeval_ts(lease_expires_at) <= leadeval_ts(:now)))
RETURNING *;

-- name: claim_redriven
-- A message redriven from the DLQ starts its dead-lettered job afresh: new generation, attempts reset.
UPDATE ai_evaluation_jobs
   SET status = 'processing', generation = generation + 1, attempts = 1, dead_lettered_at = NULL,
       started_at = :now, completed_at = NULL, lease_expires_at = :lease_until, updated_at = :now
 WHERE id = :job_id AND generation = :generation AND status = 'failed' AND dead_lettered_at IS NOT NULL
RETURNING *;

-- name: fail_exhausted
-- A crashed last attempt found by its redelivered message: failed and dead-lettered.
UPDATE ai_evaluation_jobs
   SET status = 'failed', error_code = 'AttemptsExhausted',
       error_message = 'attempts spent and the last one never finished (worker crashed or timed out)',
       dead_lettered_at = :now, completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND generation = :generation AND attempts >= max_attempts
   AND status = 'processing' AND leadeval_ts(lease_expires_at) <= leadeval_ts(:now)
RETURNING *;

-- name: get_job
SELECT * FROM ai_evaluation_jobs WHERE id = :job_id;

-- name: job_lead
-- The job's lead, only when it belongs to the job's site.
SELECT l.* FROM leads l JOIN ai_evaluation_jobs j ON j.lead_id = l.id AND j.site_id = l.site_id
 WHERE j.id = :job_id;

-- name: job_documents
-- The lead's non-deleted documents of the job's site, oldest first.
SELECT d.* FROM lead_documents d JOIN ai_evaluation_jobs j ON j.lead_id = d.lead_id AND j.site_id = d.site_id
 WHERE j.id = :job_id AND d.deleted_at IS NULL
 ORDER BY leadeval_ts(d.uploaded_at), d.id COLLATE "C";

-- name: job_usage
-- The usage row for the month of the job's requested_at (UTC), not of now.
SELECT u.* FROM ai_evaluation_usage u JOIN ai_evaluation_jobs j ON j.site_id = u.site_id
 WHERE j.id = :job_id AND u.month = to_char(leadeval_ts(j.requested_at) AT TIME ZONE 'UTC', 'YYYY-MM');

-- name: prior_submissions
-- :hashes is a JSON array of hex digests.
SELECT file_sha256, name_hash FROM document_fingerprints
 WHERE file_sha256 = ANY (ARRAY(SELECT jsonb_array_elements_text(CAST(:hashes AS jsonb))));

-- name: insert_evaluation
INSERT INTO lead_ai_evaluations
    (id, job_id, lead_id, site_id, score, label, recommendation, summary, reasons, documents, flags,
     monthly_income_cents, income_to_rent_ratio, policy_version, model, model_version,
     prompt_tokens, completion_tokens, input_hash, created_at)
SELECT CAST(:id AS text), CAST(:job_id AS text), CAST(:lead_id AS text), CAST(:site_id AS text),
       CAST(:score AS bigint), CAST(:label AS text), CAST(:recommendation AS text), CAST(:summary AS text),
       CAST(:reasons AS text), CAST(:documents AS text), CAST(:flags AS text),
       CAST(:monthly_income_cents AS bigint), CAST(:income_to_rent_ratio AS double precision),
       CAST(:policy_version AS text), CAST(:model AS text), CAST(:model_version AS text),
       CAST(:prompt_tokens AS bigint), CAST(:completion_tokens AS bigint), CAST(:input_hash AS text),
       CAST(:now AS text)
 WHERE EXISTS (SELECT 1 FROM ai_evaluation_jobs
                WHERE id = :job_id AND status = 'processing' AND generation = :generation)
ON CONFLICT (job_id) DO NOTHING;

-- name: update_lead_score
UPDATE leads SET ai_score = :score, ai_label = :label, status = :lead_status, updated_at = :now
 WHERE id = :lead_id AND site_id = :site_id
   AND EXISTS (SELECT 1 FROM ai_evaluation_jobs
                WHERE id = :job_id AND status = 'processing' AND generation = :generation);

-- name: complete_job
UPDATE ai_evaluation_jobs
   SET status = 'completed',
       evaluation_id = (SELECT id FROM lead_ai_evaluations WHERE job_id = :job_id),
       completed_at = :now, lease_expires_at = NULL, error_code = NULL, error_message = NULL,
       updated_at = :now
 WHERE id = :job_id AND status = 'processing' AND generation = :generation
RETURNING id;

-- name: record_fingerprint
INSERT INTO document_fingerprints (file_sha256, name_hash, first_seen_at)
VALUES (:file_sha256, :name_hash, :now)
ON CONFLICT (file_sha256, name_hash) DO NOTHING;

-- name: retry_later
-- processing -> queued with the last error and a lease covering the backoff. A snooze
-- (count_attempt = 0) gives the claim's attempt back and leaves retry_count alone.
UPDATE ai_evaluation_jobs
   SET status = 'queued', attempts = attempts - 1 + :count_attempt,
       retry_count = retry_count + :count_attempt,
       error_code = :error_code, error_message = :error_message,
       lease_expires_at = :lease_until, updated_at = :now
 WHERE id = :job_id AND status = 'processing' AND generation = :generation
RETURNING id;

-- name: fail_job
UPDATE ai_evaluation_jobs
   SET status = 'failed', error_code = :error_code, error_message = :error_message,
       dead_lettered_at = CASE WHEN :dead_lettered = 1 THEN CAST(:now AS text) ELSE NULL END,
       completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND status = 'processing' AND generation = :generation
RETURNING id;

-- name: list_jobs
SELECT * FROM ai_evaluation_jobs
 WHERE (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
 ORDER BY leadeval_ts(requested_at) DESC, id COLLATE "C" DESC
 LIMIT :limit;

-- name: get_evaluation
SELECT * FROM lead_ai_evaluations WHERE job_id = :job_id;

-- name: cancel_job
UPDATE ai_evaluation_jobs
   SET status = 'cancelled', lease_expires_at = NULL, completed_at = :now, updated_at = :now
 WHERE id = :job_id AND status IN ('pending', 'queued')
RETURNING id;

-- name: requeue_job
-- Operator retry: a failed job runs again from scratch under a new generation.
UPDATE ai_evaluation_jobs
   SET status = 'pending', generation = generation + 1, attempts = 0, dead_lettered_at = NULL,
       queued_at = NULL, started_at = NULL, completed_at = NULL, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND status = 'failed'
RETURNING id;

-- name: insert_lead
INSERT INTO leads (id, site_id, first_name, last_name, email, phone, monthly_rent_cents,
                   voucher_amount_cents, move_in_date, status, created_at, updated_at)
VALUES (:id, :site_id, :first_name, :last_name, :email, :phone, :monthly_rent_cents,
        :voucher_amount_cents, :move_in_date, :status, :now, :now);

-- name: insert_document
INSERT INTO lead_documents (id, lead_id, site_id, document_type, file_name, mime_type, storage_key,
                            size_bytes, uploaded_at, deleted_at)
VALUES (:id, :lead_id, :site_id, :document_type, :file_name, :mime_type, :storage_key,
        :size_bytes, :uploaded_at, :deleted_at);

-- name: insert_job
INSERT INTO ai_evaluation_jobs (id, site_id, lead_id, status, requested_at, generation, attempts,
                                max_attempts, created_at, updated_at)
VALUES (:id, :site_id, :lead_id, :status, :requested_at, :generation, :attempts, :max_attempts, :now, :now);

-- name: upsert_usage
INSERT INTO ai_evaluation_usage (site_id, month, evaluation_count, quota_limit, updated_at)
VALUES (:site_id, :month, :evaluation_count, :quota_limit, :now)
ON CONFLICT (site_id, month) DO UPDATE
   SET evaluation_count = excluded.evaluation_count, quota_limit = excluded.quota_limit,
       updated_at = excluded.updated_at;

-- name: migrations_table
CREATE TABLE IF NOT EXISTS leadeval_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);

-- name: applied_migrations
SELECT name FROM leadeval_migrations ORDER BY name COLLATE "C";

-- name: record_migration
INSERT INTO leadeval_migrations (name, applied_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING;
