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
-- A message redriven from the DLQ starts its dead-lettered job afresh: attempts reset, dead_lettered_at
-- cleared. Redriven means sent after the job was dead-lettered (:sent_at, the message's SentTimestamp: a
-- redrive gives the message a new enqueue time); an older copy of the same generation (a duplicate, or the
-- original redelivered after its DLQ send failed) must not restart the job. :sent_at NULL (unknown) counts
-- as redriven. The generation stays: the redriven message's body carries it, and that same message must
-- keep claiming the job through its retries and snoozes.
UPDATE ai_evaluation_jobs
   SET status = 'processing', attempts = 1, dead_lettered_at = NULL,
       started_at = :now, completed_at = NULL, lease_expires_at = :lease_until, updated_at = :now
 WHERE id = :job_id AND generation = :generation AND status = 'failed' AND dead_lettered_at IS NOT NULL
   AND (CAST(:sent_at AS text) IS NULL OR leadeval_ts(CAST(:sent_at AS text)) > leadeval_ts(dead_lettered_at))
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
                WHERE id = :job_id AND status = 'processing' AND generation = :generation AND attempts = :attempts)
ON CONFLICT (job_id) DO NOTHING;

-- name: update_lead_score
UPDATE leads SET ai_score = :score, ai_label = :label, status = :lead_status, updated_at = :now
 WHERE id = :lead_id AND site_id = :site_id
   AND EXISTS (SELECT 1 FROM ai_evaluation_jobs
                WHERE id = :job_id AND status = 'processing' AND generation = :generation AND attempts = :attempts);

-- name: complete_job
UPDATE ai_evaluation_jobs
   SET status = 'completed',
       evaluation_id = (SELECT id FROM lead_ai_evaluations WHERE job_id = :job_id),
       completed_at = :now, lease_expires_at = NULL, error_code = NULL, error_message = NULL,
       updated_at = :now
 WHERE id = :job_id AND status = 'processing' AND generation = :generation AND attempts = :attempts
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
 WHERE id = :job_id AND status = 'processing' AND generation = :generation AND attempts = :attempts
RETURNING id;

-- name: fail_job
UPDATE ai_evaluation_jobs
   SET status = 'failed', error_code = :error_code, error_message = :error_message,
       dead_lettered_at = CASE WHEN :dead_lettered = 1 THEN CAST(:now AS text) ELSE NULL END,
       completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND status = 'processing' AND generation = :generation AND attempts = :attempts
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

-- name: job_policy
-- Policies, overrides and history (migration 0003; DESIGN §5.6 "people stay in charge") start here.
-- Part of the claim batch: the latest scoring policy of the job's site (no row: the defaults apply).
SELECT p.site_id, p.version, p.policy_json
  FROM site_scoring_policies p JOIN ai_evaluation_jobs j ON j.site_id = p.site_id
 WHERE j.id = :job_id
 ORDER BY p.version DESC
 LIMIT 1;

-- name: insert_policy
-- A new version of a site's policy: the next number for the site, with the policy's "version" field
-- set to '<site_id>-v<n>' (what evaluations store). Two concurrent saves may compute the same number;
-- the loser inserts nothing (ON CONFLICT DO NOTHING, no row returned) and the caller tries again.
INSERT INTO site_scoring_policies (site_id, version, policy_json, created_at)
SELECT CAST(:site_id AS text), n.next_version,
       jsonb_set(CAST(:policy_json AS jsonb), '{version}',
                 to_jsonb(CAST(:site_id AS text) || '-v' || n.next_version))::text,
       CAST(:now AS text)
  FROM (SELECT COALESCE(MAX(version), 0) + 1 AS next_version
          FROM site_scoring_policies WHERE site_id = CAST(:site_id AS text)) AS n
ON CONFLICT (site_id, version) DO NOTHING
RETURNING site_id, version, policy_json, created_at;

-- name: get_policy
-- One version of a site's policy (:version NULL: the latest).
SELECT site_id, version, policy_json, created_at FROM site_scoring_policies
 WHERE site_id = :site_id AND (CAST(:version AS bigint) IS NULL OR version = CAST(:version AS bigint))
 ORDER BY version DESC
 LIMIT 1;

-- name: list_policies
SELECT site_id, version, policy_json, created_at FROM site_scoring_policies
 WHERE site_id = :site_id
 ORDER BY version DESC;

-- name: insert_override
-- A person's recommendation for a job's evaluation, with the reason; nothing when the job has none.
INSERT INTO evaluation_overrides (id, evaluation_id, job_id, recommendation, reason, created_at)
SELECT CAST(:id AS text), e.id, e.job_id, CAST(:recommendation AS text), CAST(:reason AS text),
       CAST(:now AS text)
  FROM lead_ai_evaluations e
 WHERE e.job_id = :job_id
RETURNING *;

-- name: job_overrides
SELECT * FROM evaluation_overrides WHERE job_id = :job_id
 ORDER BY leadeval_ts(created_at), id COLLATE "C";

-- name: insert_reevaluation_job
-- A re-evaluation (an applicant's dispute): a new pending job for the lead in the lead's site,
-- requested now; nothing when the lead is unknown or already has a job waiting or running.
INSERT INTO ai_evaluation_jobs (id, site_id, lead_id, status, requested_at, generation, attempts,
                                max_attempts, created_at, updated_at)
SELECT CAST(:job_id AS text), l.site_id, l.id, 'pending', CAST(:now AS text), 1, 0,
       CAST(:max_attempts AS bigint), CAST(:now AS text), CAST(:now AS text)
  FROM leads l
 WHERE l.id = :lead_id
   AND NOT EXISTS (SELECT 1 FROM ai_evaluation_jobs a
                    WHERE a.lead_id = l.id AND a.site_id = l.site_id
                      AND a.status IN ('pending', 'queued', 'processing'))
RETURNING *;

-- name: count_reevaluation_usage
-- The application counts every accepted request in the month's usage row; a re-evaluation counts
-- too (only when the job above was created, and only in an existing row).
UPDATE ai_evaluation_usage
   SET evaluation_count = evaluation_count + 1, updated_at = :now
 WHERE month = :month
   AND site_id = (SELECT site_id FROM ai_evaluation_jobs WHERE id = :job_id)
RETURNING *;

-- name: lead_active_jobs
-- The lead's jobs still waiting or running (what blocks a re-evaluation), newest first.
SELECT a.* FROM ai_evaluation_jobs a JOIN leads l ON l.id = a.lead_id AND l.site_id = a.site_id
 WHERE a.lead_id = :lead_id AND a.id <> :job_id AND a.status IN ('pending', 'queued', 'processing')
 ORDER BY leadeval_ts(a.requested_at) DESC, a.id COLLATE "C" DESC;

-- name: get_lead
SELECT * FROM leads WHERE id = :lead_id;

-- name: lead_jobs
-- Every job of the lead in the lead's site, oldest request first.
SELECT j.* FROM ai_evaluation_jobs j JOIN leads l ON l.id = j.lead_id AND l.site_id = j.site_id
 WHERE j.lead_id = :lead_id
 ORDER BY leadeval_ts(j.requested_at), j.id COLLATE "C";

-- name: lead_evaluations
-- Every evaluation of the lead (summary columns only: no documents, reasons or flags), oldest first.
SELECT e.id, e.job_id, e.lead_id, e.site_id, e.score, e.label, e.recommendation, e.summary,
       e.monthly_income_cents, e.income_to_rent_ratio, e.policy_version, e.model, e.model_version,
       e.input_hash, e.created_at
  FROM lead_ai_evaluations e JOIN leads l ON l.id = e.lead_id AND l.site_id = e.site_id
 WHERE e.lead_id = :lead_id
 ORDER BY leadeval_ts(e.created_at), e.id COLLATE "C";

-- name: lead_overrides
-- Every override of the lead's evaluations, oldest first.
SELECT o.* FROM evaluation_overrides o
  JOIN lead_ai_evaluations e ON e.id = o.evaluation_id
  JOIN leads l ON l.id = e.lead_id AND l.site_id = e.site_id
 WHERE e.lead_id = :lead_id
 ORDER BY leadeval_ts(o.created_at), o.id COLLATE "C";

-- name: reset_in_flight
-- Local runtime only: its queue lives and dies with the process, so at start no queued or processing job
-- of the local database can have a message; they go back to pending (attempts kept).
UPDATE ai_evaluation_jobs
   SET status = 'pending', queued_at = NULL, lease_expires_at = NULL, updated_at = :now
 WHERE status IN ('queued', 'processing')
RETURNING id;

-- name: migrations_table
CREATE TABLE IF NOT EXISTS leadeval_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);

-- name: applied_migrations
SELECT name FROM leadeval_migrations ORDER BY name COLLATE "C";

-- name: record_migration
INSERT INTO leadeval_migrations (name, applied_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING;
