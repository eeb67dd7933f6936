-- leadeval job-store queries, shared by every SQL backend (SQLite, D1, PostgreSQL).
--
-- Format: each query starts with a line `-- name: <query_name>` and runs to the next one. A dialect file
-- (`sqlite.sql`, `postgresql.sql`) overlays this one: a block of the same name there replaces the shared
-- block. Blocks whose name starts with `_` are fragments, pasted where another block says `{{_name}}`.
-- Parameters are named (`:name`); the D1 adapter rewrites them to ordered `?NNN`, psycopg to `%(name)s`.
-- A parameter whose type PostgreSQL cannot infer from its context carries an explicit CAST (harmless in
-- SQLite).
--
-- The application's columns keep the application's meaning. `status` only ever holds pending,
-- processing, completed, failed; leadeval's finer lifecycle lives in `leadeval_state`:
--
--     leadeval_state   status       meaning
--     NULL             pending      inserted by the application, not yet seen by a sweep
--     pending          pending      seen (leadeval_requested_at set), waiting for a sweep to claim it
--     queued           pending      claimed by a sweep, its message is on the jobs queue
--     retrying         pending      a retryable error; its message comes back after the backoff
--     snoozed          pending      throttled or misconfigured; its message comes back, no attempt used
--     processing       processing   a worker holds it until leadeval_lease_expires_at
--     completed        completed    evaluation saved
--     failed           failed       a permanent error, or attempts spent with no message left
--     dead_lettered    failed       attempts spent; its message is in the dead-letter queue
--     cancelled        failed       cancelled by an operator (error_code Cancelled)
--
-- Any other combination (e.g. the application set a finished job back to pending) is read from `status`.
-- `retry_count` counts failed attempts (a crashed attempt counts when it is found), `max_retries` is the
-- attempt limit. Timestamps leadeval writes are ISO 8601 UTC with milliseconds and Z, so leadeval's own
-- columns compare as strings; the application's timestamps are parsed once, into leadeval_requested_at.
-- Every transition is one statement guarded by the state (and generation, claim number) it expects, so a
-- statement that loses a race changes nothing.

-- name: _held
-- The worker that claimed the job still holds it: same generation, same claim number, still processing.
id = :job_id AND status = 'processing' AND leadeval_state = 'processing'
AND leadeval_generation = :generation AND leadeval_claims = :claims

-- name: _crash_counts
-- What a crashed claim (lease expired, job still processing) adds to retry_count: 1 for a job claimed alone; 0
-- for a job claimed with the other records of its invocation (leadeval_claim_group > 1): which of them crashed
-- the worker is not known, so none is charged, and each is claimed alone from then on (leadeval_solo).
CASE WHEN leadeval_claim_group > 1 THEN 0 ELSE 1 END

-- name: _solo_after_crash
-- leadeval_solo once a crashed claim is taken back (see _crash_counts).
CASE WHEN leadeval_claim_group > 1 THEN 1 ELSE leadeval_solo END

-- name: _message_out
-- States in which a message for the job is (or is about to be) on the jobs queue.
('queued', 'retrying', 'snoozed')

-- name: _job_state
-- The lifecycle state of a row (models.Job.state): leadeval_state when it agrees with status, else status.
CASE WHEN status = 'pending' AND leadeval_state IN ('queued', 'retrying', 'snoozed') THEN leadeval_state
     WHEN status = 'failed' AND leadeval_state IN ('dead_lettered', 'cancelled') THEN leadeval_state
     ELSE status END

-- name: _new_rows
-- Pending rows leadeval has not admitted yet: inserted by the application (state NULL), or set back to
-- pending by the application after they ended (a finished state under status 'pending'). Each half uses
-- leadeval_idx_jobs_claim.
SELECT id FROM ai_evaluation_jobs WHERE status = 'pending' AND leadeval_state IS NULL
UNION ALL
SELECT id FROM ai_evaluation_jobs
 WHERE status = 'pending' AND leadeval_state IN ('processing', 'completed', 'failed', 'dead_lettered', 'cancelled')

-- name: _is_new
-- The same test on the row being updated: an UPDATE re-checks it after waiting for a concurrent sweep that
-- admitted the row first (PostgreSQL re-evaluates the outer WHERE, not a subquery's snapshot), so two sweeps
-- never both admit, and then both claim, one row.
status = 'pending' AND (leadeval_state IS NULL
                        OR leadeval_state IN ('processing', 'completed', 'failed', 'dead_lettered', 'cancelled'))

-- name: _is_new_by_id
-- _is_new for an UPDATE that picks its rows by id (SQLite/D1): the unary `+` keeps the planner off
-- leadeval_idx_jobs_claim for the outer statement, so it looks the picked ids up by primary key instead of
-- walking every pending row and testing each against the id list (flat cost whatever the backlog).
+status = 'pending' AND (+leadeval_state IS NULL
                         OR +leadeval_state IN ('processing', 'completed', 'failed', 'dead_lettered', 'cancelled'))

-- name: reject_new_rows
-- New pending rows no worker can run fail at once, alone, with a clear code: a requested_at that is not a
-- timestamp, or a max_retries that allows no attempt. (Never the sweep: the other rows go on.)
UPDATE ai_evaluation_jobs
   SET status = 'failed', leadeval_state = 'failed', error_code = 'InvalidJobRow',
       error_message = CASE WHEN ({{_canonical_requested_at}}) IS NULL
                            THEN 'requested_at is not a timestamp leadeval can read (ISO 8601 or YYYY-MM-DD HH:MM:SS)'
                            ELSE 'max_retries allows no attempt' END,
       completed_at = :now, updated_at = :now
 WHERE id IN (SELECT id FROM ({{_new_rows}}) AS n LIMIT :limit)
   AND {{_is_new_by_id}}
   AND (({{_canonical_requested_at}}) IS NULL OR max_retries < 1)
RETURNING id, error_message;

-- name: admit_new_rows
-- New pending rows become leadeval's pending jobs: the canonical requested_at is written once. A job the
-- application re-opened after it ended starts a new generation with its failed attempts reset (as an
-- operator retry does), so a cached outcome of the old run never answers for the new one.
UPDATE ai_evaluation_jobs
   SET leadeval_generation = leadeval_generation
                             + CASE WHEN leadeval_state IS NULL OR leadeval_state = 'pending' THEN 0 ELSE 1 END,
       retry_count = CASE WHEN leadeval_state IS NULL OR leadeval_state = 'pending' THEN retry_count ELSE 0 END,
       leadeval_state = 'pending',
       leadeval_requested_at = {{_admitted_requested_at}},
       leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL, leadeval_dead_lettered_at = NULL
 WHERE id IN (SELECT id FROM ({{_new_rows}}) AS n LIMIT :limit)
   AND {{_is_new_by_id}}
   AND ({{_canonical_requested_at}}) IS NOT NULL AND max_retries >= 1
RETURNING id;

-- name: rescue_exhausted
-- A worker that crashed (or timed out) on the job's last attempt, long ago, and whose message is gone:
-- the crash counts as a failed attempt and the job fails (no message will come back for it).
UPDATE ai_evaluation_jobs
   SET status = 'failed', leadeval_state = 'failed', retry_count = retry_count + {{_crash_counts}},
       error_code = 'AttemptsExhausted',
       error_message = 'attempts spent and the last one never finished (worker crashed, timed out or its message was lost)',
       completed_at = :now, leadeval_lease_expires_at = NULL, updated_at = :now
 WHERE status = 'processing' AND leadeval_state = 'processing'
   AND leadeval_lease_expires_at < :rescue_before
   AND retry_count + {{_crash_counts}} >= max_retries
RETURNING id;

-- name: rescue_crashed
-- A worker that crashed long ago, attempts left, message gone: the crash counts (see _crash_counts), the job
-- goes back to the sweep (claimed below in the same batch).
UPDATE ai_evaluation_jobs
   SET status = 'pending', leadeval_state = 'pending', retry_count = retry_count + {{_crash_counts}},
       leadeval_solo = {{_solo_after_crash}},
       leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL, updated_at = :now
 WHERE status = 'processing' AND leadeval_state = 'processing'
   AND leadeval_lease_expires_at < :rescue_before
   AND retry_count + {{_crash_counts}} < max_retries
RETURNING id;

-- name: rescue_lost
-- A message sent long ago that never arrived (lost, or moved to the DLQ by the queue's own crash net):
-- back to the sweep. No attempt is counted: none was made.
UPDATE ai_evaluation_jobs
   SET leadeval_state = 'pending', leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL
 WHERE status = 'pending' AND leadeval_state IN {{_message_out}}
   AND leadeval_lease_expires_at < :rescue_before
RETURNING id;

-- name: claim_due
-- One guarded statement: two sweeps never claim the same job (SQLite/D1 serialise writers, and the outer
-- state re-check makes a lost race a no-op). The subquery walks leadeval_idx_jobs_claim in order (no sort,
-- reads only the rows it returns); the outer UPDATE finds those ids by primary key (the unary `+` keeps
-- it off the claim index, which would make it visit every pending row: 27 ms at 100,000 pending, see
-- docs/benchmarks.md "Claim cost").
UPDATE ai_evaluation_jobs
   SET leadeval_state = 'queued', leadeval_queued_at = :now, leadeval_lease_expires_at = :lease_until
 WHERE +status = 'pending' AND +leadeval_state = 'pending'
   AND id IN (SELECT id FROM ai_evaluation_jobs
               WHERE status = 'pending' AND leadeval_state = 'pending' AND leadeval_requested_at <= :now
               ORDER BY leadeval_requested_at, id
               LIMIT :limit)
RETURNING id, site_id, lead_id, leadeval_generation, leadeval_requested_at;

-- name: release
-- A job whose message SQS rejected goes back to the sweep.
UPDATE ai_evaluation_jobs
   SET leadeval_state = 'pending', leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL
 WHERE id = :job_id AND status = 'pending' AND leadeval_state = 'queued' AND leadeval_generation = :generation
RETURNING id;

-- name: fail_invalid
-- A job the sweep claimed but whose identifiers no message can carry (e.g. an empty site id): failed alone.
UPDATE ai_evaluation_jobs
   SET status = 'failed', leadeval_state = 'failed', error_code = 'InvalidJobRow', error_message = :error_message,
       completed_at = :now, leadeval_lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND status = 'pending' AND leadeval_state = 'queued' AND leadeval_generation = :generation
RETURNING id;

-- name: reject_job
-- The worker's claim batch fails its own job at once when no sweep has seen it yet and it cannot be run
-- (see reject_new_rows).
UPDATE ai_evaluation_jobs
   SET status = 'failed', leadeval_state = 'failed', error_code = 'InvalidJobRow',
       error_message = CASE WHEN ({{_canonical_requested_at}}) IS NULL
                            THEN 'requested_at is not a timestamp leadeval can read (ISO 8601 or YYYY-MM-DD HH:MM:SS)'
                            ELSE 'max_retries allows no attempt' END,
       completed_at = :now, updated_at = :now
 WHERE id = :job_id AND status = 'pending' AND leadeval_state IS NULL
   AND (({{_canonical_requested_at}}) IS NULL OR max_retries < 1)
RETURNING id;

-- name: admit_job
-- The worker's claim batch first admits its own job when no sweep has seen it yet (a message sent by hand,
-- or `leadeval invoke worker`), so the claim below finds its canonical requested_at.
UPDATE ai_evaluation_jobs
   SET leadeval_state = 'pending', leadeval_requested_at = {{_admitted_requested_at}}
 WHERE id = :job_id AND status = 'pending' AND leadeval_state IS NULL
   AND ({{_canonical_requested_at}}) IS NOT NULL
RETURNING id;

-- name: claim_job
-- The worker's claim: a job waiting for its message (or not yet swept), or one whose holder's lease expired
-- (a crashed attempt: it counts as a failed attempt now, see _crash_counts). The claim number fences the holder.
UPDATE ai_evaluation_jobs
   SET retry_count = retry_count + CASE WHEN status = 'processing' THEN {{_crash_counts}} ELSE 0 END,
       leadeval_solo = CASE WHEN status = 'processing' THEN {{_solo_after_crash}} ELSE leadeval_solo END,
       status = 'processing', leadeval_state = 'processing', leadeval_claims = leadeval_claims + 1,
       leadeval_claim_group = 1, started_at = :now, leadeval_lease_expires_at = :lease_until, updated_at = :now
 WHERE id = :job_id AND leadeval_generation = :generation
   AND ((status = 'pending' AND leadeval_state IN ('pending', 'queued', 'retrying', 'snoozed')
         AND retry_count < max_retries)
        OR (status = 'processing' AND leadeval_state = 'processing' AND leadeval_lease_expires_at <= :now
            AND retry_count + {{_crash_counts}} < max_retries))
RETURNING *;

-- name: claim_job_in_group
-- The worker's claim of a job together with the other records of its invocation (:claim_group records, one
-- request): only a job waiting for its message, never one a crashed claim still holds nor one marked to be
-- claimed alone (those take claim_job, alone). A crash while this claim holds the job counts as no attempt
-- (_crash_counts) and marks the job to be claimed alone.
UPDATE ai_evaluation_jobs
   SET status = 'processing', leadeval_state = 'processing', leadeval_claims = leadeval_claims + 1,
       leadeval_claim_group = :claim_group, started_at = :now, leadeval_lease_expires_at = :lease_until,
       updated_at = :now
 WHERE id = :job_id AND leadeval_generation = :generation
   AND status = 'pending' AND leadeval_state IN ('pending', 'queued', 'retrying', 'snoozed')
   AND retry_count < max_retries AND leadeval_solo = 0
RETURNING *;

-- name: claim_redriven
-- A message redriven from the DLQ starts its dead-lettered job afresh: failed attempts reset. Redriven means
-- sent after the job was dead-lettered (:sent_at, the message's SentTimestamp: a redrive gives the message a
-- new one); an older copy of the same generation (a duplicate, or the original redelivered after its DLQ send
-- failed) must not restart the job. :sent_at NULL (unknown) counts as redriven. The generation stays: the
-- redriven message's body carries it, and that message must keep claiming the job through its retries.
UPDATE ai_evaluation_jobs
   SET status = 'processing', leadeval_state = 'processing', retry_count = 0, leadeval_claim_group = 1,
       leadeval_claims = leadeval_claims + 1, leadeval_dead_lettered_at = NULL,
       started_at = :now, completed_at = NULL, leadeval_lease_expires_at = :lease_until, updated_at = :now
 WHERE id = :job_id AND leadeval_generation = :generation
   AND status = 'failed' AND leadeval_state = 'dead_lettered'
   AND (CAST(:sent_at AS text) IS NULL OR CAST(:sent_at AS text) > leadeval_dead_lettered_at)
RETURNING *;

-- name: fail_exhausted
-- A crashed last attempt found by its redelivered message: the crash counts, the job fails, dead-lettered.
-- Also a waiting job whose limit was lowered below its failed attempts meanwhile (nothing more may run).
UPDATE ai_evaluation_jobs
   SET retry_count = retry_count + CASE WHEN status = 'processing' THEN {{_crash_counts}} ELSE 0 END,
       status = 'failed', leadeval_state = 'dead_lettered', error_code = 'AttemptsExhausted',
       error_message = CASE WHEN status = 'processing'
                            THEN 'attempts spent and the last one never finished (worker crashed or timed out)'
                            ELSE 'attempts spent: retry_count reached max_retries' END,
       leadeval_dead_lettered_at = :now, completed_at = :now, leadeval_lease_expires_at = NULL, updated_at = :now
 WHERE id = :job_id AND leadeval_generation = :generation
   AND ((status = 'processing' AND leadeval_state = 'processing' AND leadeval_lease_expires_at <= :now
         AND retry_count + {{_crash_counts}} >= max_retries)
        OR (status = 'pending' AND leadeval_state IN {{_message_out}} AND retry_count >= max_retries))
RETURNING *;

-- name: unclaim_job
-- A job claimed ahead (with the previous record's write, see ClaimAhead) whose record did not run after all
-- (the invocation's deadline, or another invocation holds the message): back to waiting for its message,
-- which comes back; no attempt counted. Guarded by the claim number like every holder's write.
UPDATE ai_evaluation_jobs
   SET status = 'pending', leadeval_state = 'queued', leadeval_lease_expires_at = :lease_until, updated_at = :now
 WHERE {{_held}}
RETURNING id;

-- name: get_job
SELECT * FROM ai_evaluation_jobs WHERE id = :job_id;

-- name: job_lead
-- Tenant isolation goes through the lead: the job's lead, only when it belongs to the job's site.
SELECT l.* FROM leads l JOIN ai_evaluation_jobs j ON j.lead_id = l.id AND j.site_id = l.site_id
 WHERE j.id = :job_id;

-- name: job_documents
-- The documents of the job's lead (a lead of the job's site), not deleted, newest upload first (as the
-- application lists them).
SELECT d.* FROM lead_documents d
  JOIN leads l ON l.id = d.lead_id
  JOIN ai_evaluation_jobs j ON j.lead_id = l.id AND j.site_id = l.site_id
 WHERE j.id = :job_id AND d.deleted_at IS NULL
 ORDER BY d.uploaded_at DESC, d.id;

-- name: job_usage
-- The usage row for the month of the job's request (UTC), not of now.
SELECT u.* FROM ai_evaluation_usage u JOIN ai_evaluation_jobs j ON j.site_id = u.site_id
 WHERE j.id = :job_id AND u.month = substr(j.leadeval_requested_at, 1, 7);

-- name: insert_evaluation_details
-- leadeval's part of the evaluation, written only while the worker still holds the job (one per generation)
-- and, when the write carries a reuse check, while no document of it came with another applicant name (the
-- score assumed none; the statements below follow this row, so nothing of the result is written otherwise).
INSERT INTO leadeval_evaluations
    (evaluation_id, job_id, generation, lead_id, site_id, reasons, documents, flags, monthly_income_cents,
     income_to_rent_ratio, policy_version, model, prompt_tokens, completion_tokens, input_hash, created_at,
     pages, worker_ms)
SELECT CAST(:id AS text), CAST(:job_id AS text), CAST(:generation AS bigint), CAST(:lead_id AS text),
       CAST(:site_id AS text), CAST(:reasons AS text), CAST(:documents AS text), CAST(:flags AS text),
       CAST(:monthly_income_cents AS bigint), CAST(:income_to_rent_ratio AS double precision),
       CAST(:policy_version AS text), CAST(:model AS text), CAST(:prompt_tokens AS bigint),
       CAST(:completion_tokens AS bigint), CAST(:input_hash AS text), CAST(:now AS text),
       CAST(:pages AS bigint), CAST(:worker_ms AS bigint)
 WHERE EXISTS (SELECT 1 FROM ai_evaluation_jobs WHERE {{_held}})
   AND {{_no_reuse}}
ON CONFLICT (job_id, generation) DO NOTHING;

-- name: insert_evaluation
-- The application's evaluation row, in its shape: id 'eval_' + nanoid, the three JSON columns, the model
-- that produced the facts, evaluated_at = created_at = updated_at. Written with leadeval's details above.
INSERT INTO lead_ai_evaluations
    (id, lead_id, site_id, score, label, recommendation, summary, risk_flags, fraud_signals, extracted_data,
     model_version, evaluated_at, created_at, updated_at)
SELECT CAST(:id AS text), CAST(:lead_id AS text), CAST(:site_id AS text), CAST(:score AS bigint),
       CAST(:label AS text), CAST(:recommendation AS text), CAST(:summary AS text), CAST(:risk_flags AS text),
       CAST(:fraud_signals AS text), CAST(:extracted_data AS text), CAST(:model_version AS text),
       CAST(:now AS text), CAST(:now AS text), CAST(:now AS text)
 WHERE EXISTS (SELECT 1 FROM ai_evaluation_jobs WHERE {{_held}})
   AND EXISTS (SELECT 1 FROM leadeval_evaluations WHERE evaluation_id = :id);

-- name: update_lead_score
-- The lead shows its latest evaluation (a re-evaluation moves these fields to the new row).
UPDATE leads SET ai_score = :score, ai_label = :label, status = 'ai_evaluated', updated_at = :now
 WHERE id = :lead_id AND site_id = :site_id
   AND EXISTS (SELECT 1 FROM ai_evaluation_jobs WHERE {{_held}})
   AND EXISTS (SELECT 1 FROM leadeval_evaluations WHERE evaluation_id = :id);

-- name: complete_job
UPDATE ai_evaluation_jobs
   SET status = 'completed', leadeval_state = 'completed', evaluation_id = :id,
       completed_at = :now, leadeval_lease_expires_at = NULL, error_code = NULL, error_message = NULL,
       updated_at = :now
 WHERE {{_held}}
   AND EXISTS (SELECT 1 FROM lead_ai_evaluations WHERE id = :id)
RETURNING id;

-- name: record_fingerprint
-- With the result only: a write that did not hold (lost lease, reuse check) records nothing.
INSERT INTO leadeval_fingerprints (file_sha256, name_hash, first_seen_at)
SELECT CAST(:file_sha256 AS text), CAST(:name_hash AS text), CAST(:now AS text)
 WHERE EXISTS (SELECT 1 FROM leadeval_evaluations WHERE evaluation_id = :id)
ON CONFLICT (file_sha256, name_hash) DO NOTHING;

-- name: retry_later
-- Back to pending (the application's view: not started) with the error recorded and a lease covering the
-- delay; the message comes back then. A retry counts the failed attempt; a snooze (throttling,
-- configuration) counts nothing.
UPDATE ai_evaluation_jobs
   SET status = 'pending', leadeval_state = CASE WHEN :count_attempt = 1 THEN 'retrying' ELSE 'snoozed' END,
       retry_count = retry_count + :count_attempt,
       error_code = :error_code, error_message = :error_message,
       leadeval_lease_expires_at = :lease_until, updated_at = :now
 WHERE {{_held}}
RETURNING id;

-- name: fail_job
-- A permanent error, or the last attempt's failure (dead-lettered): the failed attempt counts.
UPDATE ai_evaluation_jobs
   SET status = 'failed', leadeval_state = CASE WHEN :dead_lettered = 1 THEN 'dead_lettered' ELSE 'failed' END,
       retry_count = retry_count + 1, error_code = :error_code, error_message = :error_message,
       leadeval_dead_lettered_at = CASE WHEN :dead_lettered = 1 THEN CAST(:now AS text) ELSE NULL END,
       completed_at = :now, leadeval_lease_expires_at = NULL, updated_at = :now
 WHERE {{_held}}
RETURNING id;

-- name: list_jobs
SELECT * FROM ai_evaluation_jobs
 WHERE (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
   AND (CAST(:state AS text) IS NULL OR ({{_job_state}}) = CAST(:state AS text))
 ORDER BY COALESCE(leadeval_requested_at, requested_at) DESC, id DESC
 LIMIT :limit;

-- name: _evaluation_columns
e.id, x.job_id, x.generation, e.lead_id, e.site_id, e.score, e.label, e.recommendation, e.summary,
e.model_version, e.evaluated_at, e.created_at, x.monthly_income_cents, x.income_to_rent_ratio,
x.policy_version, x.model, x.prompt_tokens, x.completion_tokens, x.input_hash, x.pages, x.worker_ms

-- name: get_evaluation
-- The latest evaluation of a job (its newest generation), with leadeval's details.
SELECT {{_evaluation_columns}}, x.reasons, x.documents, x.flags,
       e.risk_flags, e.fraud_signals, e.extracted_data
  FROM leadeval_evaluations x JOIN lead_ai_evaluations e ON e.id = x.evaluation_id
 WHERE x.job_id = :job_id
 ORDER BY x.generation DESC
 LIMIT 1;

-- name: cancel_job
-- Operator cancel: a job not started yet ends failed (the application's vocabulary) with code Cancelled.
UPDATE ai_evaluation_jobs
   SET status = 'failed', leadeval_state = 'cancelled', error_code = 'Cancelled',
       error_message = 'cancelled by an operator', leadeval_lease_expires_at = NULL,
       completed_at = :now, updated_at = :now
 WHERE id = :job_id AND status = 'pending'
   AND (leadeval_state IS NULL OR leadeval_state IN ('pending', 'queued', 'retrying', 'snoozed'))
RETURNING id;

-- name: requeue_job
-- Operator retry: a failed (not cancelled) job runs again from scratch under a new generation.
UPDATE ai_evaluation_jobs
   SET status = 'pending', leadeval_state = 'pending', leadeval_generation = leadeval_generation + 1,
       retry_count = 0, leadeval_dead_lettered_at = NULL, leadeval_queued_at = NULL, started_at = NULL,
       completed_at = NULL, leadeval_lease_expires_at = NULL, updated_at = :now,
       leadeval_requested_at = COALESCE(leadeval_requested_at, :now)
 WHERE id = :job_id AND status = 'failed' AND COALESCE(leadeval_state, 'failed') <> 'cancelled'
RETURNING id;

-- name: insert_lead
-- As the application inserts a lead (plus leadeval's voucher column).
INSERT INTO leads (id, site_id, first_name, last_name, email, phone, move_in_date, monthly_rent, status,
                   leadeval_voucher_cents, created_at, updated_at)
VALUES (:id, :site_id, :first_name, :last_name, :email, :phone, :move_in_date, :monthly_rent, :status,
        :voucher_cents, :now, :now);

-- name: insert_document
INSERT INTO lead_documents (id, lead_id, document_type, storage_key, mime_type, uploaded_at, deleted_at)
VALUES (:id, :lead_id, :document_type, :storage_key, :mime_type, :uploaded_at, :deleted_at);

-- name: insert_job
-- As the application inserts a job: its columns only (leadeval's take their defaults; the sweep admits it).
INSERT INTO ai_evaluation_jobs (id, lead_id, site_id, status, requested_by, requested_at, model_version,
                                max_retries, created_at, updated_at)
VALUES (:id, :lead_id, :site_id, 'pending', :requested_by, :requested_at, :model_version, :max_retries,
        :now, :now);

-- name: insert_usage
-- A site's usage row for a month, only when it has none: an existing row (the application's) is never changed.
INSERT INTO ai_evaluation_usage (site_id, month, evaluation_count, quota_limit)
VALUES (:site_id, :month, :evaluation_count, :quota_limit)
ON CONFLICT (site_id, month) DO NOTHING;

-- name: get_usage
SELECT * FROM ai_evaluation_usage WHERE site_id = :site_id AND month = :month;

-- name: job_policy
-- Part of the claim batch: the latest scoring policy of the job's site (no row: the defaults apply).
SELECT p.site_id, p.version, p.policy_json
  FROM leadeval_site_policies p JOIN ai_evaluation_jobs j ON j.site_id = p.site_id
 WHERE j.id = :job_id
 ORDER BY p.version DESC
 LIMIT 1;

-- name: get_policy
-- One version of a site's policy (:version NULL: the latest).
SELECT site_id, version, policy_json, created_at FROM leadeval_site_policies
 WHERE site_id = :site_id AND (CAST(:version AS bigint) IS NULL OR version = CAST(:version AS bigint))
 ORDER BY version DESC
 LIMIT 1;

-- name: list_policies
SELECT site_id, version, policy_json, created_at FROM leadeval_site_policies
 WHERE site_id = :site_id
 ORDER BY version DESC;

-- name: insert_override
-- A person's recommendation for a job's latest evaluation, with the reason; nothing when the job has none.
INSERT INTO leadeval_overrides (id, evaluation_id, job_id, recommendation, reason, created_at, created_by)
SELECT CAST(:id AS text), x.evaluation_id, x.job_id, CAST(:recommendation AS text), CAST(:reason AS text),
       CAST(:now AS text), CAST(:created_by AS text)
  FROM leadeval_evaluations x
 WHERE x.job_id = :job_id
   AND x.generation = (SELECT MAX(generation) FROM leadeval_evaluations WHERE job_id = :job_id)
RETURNING *;

-- name: job_overrides
SELECT * FROM leadeval_overrides WHERE job_id = :job_id ORDER BY created_at, id;

-- name: insert_reevaluation_job
-- A re-evaluation (an applicant's dispute): a new pending job for the lead in the lead's site, requested
-- now, as the application would insert it; nothing when the lead is unknown or already has a job waiting
-- or running.
INSERT INTO ai_evaluation_jobs (id, lead_id, site_id, status, requested_by, requested_at, max_retries,
                                created_at, updated_at)
SELECT CAST(:job_id AS text), l.id, l.site_id, 'pending', CAST(:requested_by AS text), CAST(:now AS text),
       CAST(:max_retries AS bigint), CAST(:now AS text), CAST(:now AS text)
  FROM leads l
 WHERE l.id = :lead_id
   AND NOT EXISTS (SELECT 1 FROM ai_evaluation_jobs a
                    WHERE a.lead_id = l.id AND a.site_id = l.site_id AND a.status IN ('pending', 'processing'))
RETURNING *;

-- name: count_reevaluation_usage
-- The application counts every accepted request in the month's usage row; a re-evaluation counts too (only
-- when the job above was created, and only in an existing row).
UPDATE ai_evaluation_usage
   SET evaluation_count = evaluation_count + 1
 WHERE month = :month
   AND site_id = (SELECT site_id FROM ai_evaluation_jobs WHERE id = :job_id)
RETURNING *;

-- name: lead_active_jobs
-- The lead's jobs still waiting or running (what blocks a re-evaluation), newest first.
SELECT a.* FROM ai_evaluation_jobs a JOIN leads l ON l.id = a.lead_id AND l.site_id = a.site_id
 WHERE a.lead_id = :lead_id AND a.id <> :job_id AND a.status IN ('pending', 'processing')
 ORDER BY COALESCE(a.leadeval_requested_at, a.requested_at) DESC, a.id DESC;

-- name: get_lead
SELECT * FROM leads WHERE id = :lead_id;

-- name: lead_jobs
-- Every job of the lead in the lead's site, oldest request first.
SELECT j.* FROM ai_evaluation_jobs j JOIN leads l ON l.id = j.lead_id AND l.site_id = j.site_id
 WHERE j.lead_id = :lead_id
 ORDER BY COALESCE(j.leadeval_requested_at, j.requested_at), j.id;

-- name: lead_evaluations
-- Every evaluation of the lead (summary columns only: no documents, reasons or flags), oldest first.
SELECT {{_evaluation_columns}}
  FROM leadeval_evaluations x
  JOIN lead_ai_evaluations e ON e.id = x.evaluation_id
  JOIN leads l ON l.id = e.lead_id AND l.site_id = e.site_id
 WHERE x.lead_id = :lead_id
 ORDER BY e.created_at, e.id;

-- name: lead_overrides
-- Every override of the lead's evaluations, oldest first.
SELECT o.* FROM leadeval_overrides o
  JOIN leadeval_evaluations x ON x.evaluation_id = o.evaluation_id
  JOIN leads l ON l.id = x.lead_id AND l.site_id = x.site_id
 WHERE x.lead_id = :lead_id
 ORDER BY o.created_at, o.id;

-- name: reset_in_flight
-- Local runtime only: its queue lives and dies with the process, so at start no queued, retrying, snoozed or
-- processing job of the local database can have a message; they go back to the sweep. A job a dead run was
-- processing counts that attempt as failed (as a rescue does, see _crash_counts).
UPDATE ai_evaluation_jobs
   SET retry_count = retry_count + CASE WHEN status = 'processing' THEN {{_crash_counts}} ELSE 0 END,
       leadeval_solo = CASE WHEN status = 'processing' THEN {{_solo_after_crash}} ELSE leadeval_solo END,
       status = 'pending', leadeval_state = 'pending', leadeval_queued_at = NULL,
       leadeval_lease_expires_at = NULL, updated_at = :now
 WHERE (status = 'pending' AND leadeval_state IN {{_message_out}})
    OR (status = 'processing' AND leadeval_state = 'processing')
RETURNING id;

-- name: application_tables
-- Which of the application's five tables exist (migrate() refuses a database without them).
SELECT name FROM ({{_table_names}}) AS t
 WHERE name IN ('leads', 'lead_documents', 'ai_evaluation_usage', 'ai_evaluation_jobs', 'lead_ai_evaluations');

-- name: has_migrations_table
-- Whether leadeval's migrations table exists (pending_migrations() reads without creating anything).
SELECT name FROM ({{_table_names}}) AS t WHERE name = 'leadeval_migrations';

-- name: migrations_table
CREATE TABLE IF NOT EXISTS leadeval_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);

-- name: applied_migrations
SELECT name FROM leadeval_migrations ORDER BY name;

-- name: record_migration
INSERT INTO leadeval_migrations (name, applied_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING;
