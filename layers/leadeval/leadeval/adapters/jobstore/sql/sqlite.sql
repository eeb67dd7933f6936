-- leadeval job-store queries, SQLite dialect (shared by the embedded SQLite store and D1).
--
-- Format: each query starts with a line `-- name: <query_name>` and runs to the next one.
-- Parameters are named (`:name`); the D1 adapter rewrites them to ordered `?NNN` placeholders.
-- Timestamps are compared through julianday(), which parses both stored formats
-- ('2026-01-31T23:59:59.123Z' and '2026-01-31 23:59:59'); never as raw strings.
-- Every transition is guarded by the status (and generation) it expects, so a statement that
-- loses a race changes nothing.

-- name: rescue_exhausted
-- Long-expired queued/processing jobs whose attempts are spent: failed (no message will fix them).
UPDATE ai_evaluation_jobs
   SET status = 'failed',
       error_code = 'AttemptsExhausted',
       error_message = 'attempts spent and the last one never finished (worker crashed, timed out or its message was lost)',
       completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE status IN ('queued', 'processing')
   AND lease_expires_at IS NOT NULL
   AND julianday(lease_expires_at) < julianday(:rescue_before)
   AND attempts >= max_attempts
RETURNING id;

-- name: rescue_to_pending
-- Long-expired queued/processing jobs with attempts left: back to pending for the claim below.
UPDATE ai_evaluation_jobs
   SET status = 'pending', queued_at = NULL, lease_expires_at = NULL, updated_at = :now
 WHERE status IN ('queued', 'processing')
   AND lease_expires_at IS NOT NULL
   AND julianday(lease_expires_at) < julianday(:rescue_before)
   AND attempts < max_attempts
RETURNING id;

-- name: claim_due
-- One guarded statement: two sweeps never claim the same job (SQLite/D1 serialise writers and
-- the outer `status = 'pending'` re-check makes a lost race a no-op).
UPDATE ai_evaluation_jobs
   SET status = 'queued', queued_at = :now, lease_expires_at = :lease_until, updated_at = :now
 WHERE status = 'pending'
   AND id IN (SELECT id FROM ai_evaluation_jobs
               WHERE status = 'pending' AND julianday(requested_at) <= julianday(:now)
               ORDER BY julianday(requested_at), id
               LIMIT :limit)
RETURNING *;

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
        OR (status = 'processing' AND julianday(lease_expires_at) <= julianday(:now)))
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
   AND (:sent_at IS NULL OR julianday(:sent_at) > julianday(dead_lettered_at))
RETURNING *;

-- name: fail_exhausted
-- A crashed last attempt found by its redelivered message: failed and dead-lettered.
UPDATE ai_evaluation_jobs
   SET status = 'failed', error_code = 'AttemptsExhausted',
       error_message = 'attempts spent and the last one never finished (worker crashed or timed out)',
       dead_lettered_at = :now, completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND generation = :generation AND attempts >= max_attempts
   AND status = 'processing' AND julianday(lease_expires_at) <= julianday(:now)
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
 ORDER BY d.uploaded_at, d.id;

-- name: job_usage
-- The usage row for the month of the job's requested_at (UTC), not of now.
SELECT u.* FROM ai_evaluation_usage u JOIN ai_evaluation_jobs j ON j.site_id = u.site_id
 WHERE j.id = :job_id AND u.month = strftime('%Y-%m', j.requested_at);

-- name: prior_submissions
SELECT file_sha256, name_hash FROM document_fingerprints WHERE file_sha256 IN (SELECT value FROM json_each(:hashes));

-- name: insert_evaluation
INSERT INTO lead_ai_evaluations
    (id, job_id, lead_id, site_id, score, label, recommendation, summary, reasons, documents, flags,
     monthly_income_cents, income_to_rent_ratio, policy_version, model, model_version,
     prompt_tokens, completion_tokens, input_hash, created_at)
SELECT :id, :job_id, :lead_id, :site_id, :score, :label, :recommendation, :summary, :reasons, :documents,
       :flags, :monthly_income_cents, :income_to_rent_ratio, :policy_version, :model, :model_version,
       :prompt_tokens, :completion_tokens, :input_hash, :now
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
       dead_lettered_at = CASE WHEN :dead_lettered = 1 THEN :now ELSE NULL END,
       completed_at = :now, lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND status = 'processing' AND generation = :generation AND attempts = :attempts
RETURNING id;

-- name: list_jobs
SELECT * FROM ai_evaluation_jobs
 WHERE (:status IS NULL OR status = :status)
 ORDER BY julianday(requested_at) DESC, id DESC
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
-- set to '<site_id>-v<n>' (what evaluations store). Two concurrent saves cannot both take the same
-- number: the loser inserts nothing (no row returned) and the caller tries again.
INSERT INTO site_scoring_policies (site_id, version, policy_json, created_at)
SELECT :site_id, n.next_version, json_set(:policy_json, '$.version', :site_id || '-v' || n.next_version), :now
  FROM (SELECT COALESCE(MAX(version), 0) + 1 AS next_version
          FROM site_scoring_policies WHERE site_id = :site_id) AS n
 WHERE true
ON CONFLICT (site_id, version) DO NOTHING
RETURNING site_id, version, policy_json, created_at;

-- name: get_policy
-- One version of a site's policy (:version NULL: the latest).
SELECT site_id, version, policy_json, created_at FROM site_scoring_policies
 WHERE site_id = :site_id AND (:version IS NULL OR version = :version)
 ORDER BY version DESC
 LIMIT 1;

-- name: list_policies
SELECT site_id, version, policy_json, created_at FROM site_scoring_policies
 WHERE site_id = :site_id
 ORDER BY version DESC;

-- name: insert_override
-- A person's recommendation for a job's evaluation, with the reason; nothing when the job has none.
INSERT INTO evaluation_overrides (id, evaluation_id, job_id, recommendation, reason, created_at)
SELECT :id, e.id, e.job_id, :recommendation, :reason, :now
  FROM lead_ai_evaluations e
 WHERE e.job_id = :job_id
RETURNING *;

-- name: job_overrides
SELECT * FROM evaluation_overrides WHERE job_id = :job_id ORDER BY julianday(created_at), id;

-- name: insert_reevaluation_job
-- A re-evaluation (an applicant's dispute): a new pending job for the lead in the lead's site,
-- requested now; nothing when the lead is unknown or already has a job waiting or running.
INSERT INTO ai_evaluation_jobs (id, site_id, lead_id, status, requested_at, generation, attempts,
                                max_attempts, created_at, updated_at)
SELECT :job_id, l.site_id, l.id, 'pending', :now, 1, 0, :max_attempts, :now, :now
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
 ORDER BY julianday(a.requested_at) DESC, a.id DESC;

-- name: get_lead
SELECT * FROM leads WHERE id = :lead_id;

-- name: lead_jobs
-- Every job of the lead in the lead's site, oldest request first.
SELECT j.* FROM ai_evaluation_jobs j JOIN leads l ON l.id = j.lead_id AND l.site_id = j.site_id
 WHERE j.lead_id = :lead_id
 ORDER BY julianday(j.requested_at), j.id;

-- name: lead_evaluations
-- Every evaluation of the lead (summary columns only: no documents, reasons or flags), oldest first.
SELECT e.id, e.job_id, e.lead_id, e.site_id, e.score, e.label, e.recommendation, e.summary,
       e.monthly_income_cents, e.income_to_rent_ratio, e.policy_version, e.model, e.model_version,
       e.input_hash, e.created_at
  FROM lead_ai_evaluations e JOIN leads l ON l.id = e.lead_id AND l.site_id = e.site_id
 WHERE e.lead_id = :lead_id
 ORDER BY julianday(e.created_at), e.id;

-- name: lead_overrides
-- Every override of the lead's evaluations, oldest first.
SELECT o.* FROM evaluation_overrides o
  JOIN lead_ai_evaluations e ON e.id = o.evaluation_id
  JOIN leads l ON l.id = e.lead_id AND l.site_id = e.site_id
 WHERE e.lead_id = :lead_id
 ORDER BY julianday(o.created_at), o.id;

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
SELECT name FROM leadeval_migrations ORDER BY name;

-- name: record_migration
INSERT INTO leadeval_migrations (name, applied_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING;
