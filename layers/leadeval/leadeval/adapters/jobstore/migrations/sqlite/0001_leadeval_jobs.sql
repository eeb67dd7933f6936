-- Migration number: 0001 	 leadeval_jobs
-- leadeval's job lifecycle, in columns of its own added to the application's ai_evaluation_jobs. The
-- application's columns keep their meaning: `status` stays in its vocabulary (pending, processing,
-- completed, failed), `retry_count` counts failed attempts and `max_retries` is the attempt limit.
-- Every added column is prefixed `leadeval_` (no clash with the application's own columns) and has a
-- default or is nullable, so a row the application inserts without knowing them works as it is.
--
--   leadeval_state            NULL until leadeval has seen the row; then one of pending, queued,
--                             processing, retrying, snoozed, completed, failed, dead_lettered, cancelled
--                             (the finer lifecycle; `status` is its projection onto the four values)
--   leadeval_generation       bumped by an operator retry (and when the application re-opens a finished
--                             job); part of the idempotency key, carried by every message
--   leadeval_claims           fencing token: +1 at every worker claim; a worker writes only while its
--                             claim number is still the row's
--   leadeval_requested_at     `requested_at` in one canonical format (ISO 8601 UTC, ms, Z), written by
--                             the sweep when it first sees the row; the claim order and the usage month
--   leadeval_queued_at        when the sweep sent its message
--   leadeval_lease_expires_at how long the current holder (sweep message or worker) holds the job
--   leadeval_dead_lettered_at when its message went to the dead-letter queue
--
-- Every timestamp leadeval writes is canonical text, so these columns compare and sort as strings.

ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_state TEXT;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_requested_at TEXT;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_queued_at TEXT;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_lease_expires_at TEXT;
ALTER TABLE ai_evaluation_jobs ADD COLUMN leadeval_dead_lettered_at TEXT;

-- The sweep's claim walks this index in order (status, state, due time): flat cost whatever the backlog.
CREATE INDEX IF NOT EXISTS leadeval_idx_jobs_claim
    ON ai_evaluation_jobs (status, leadeval_state, leadeval_requested_at, id);
-- The sweep's rescue finds long-expired holders by state and lease.
CREATE INDEX IF NOT EXISTS leadeval_idx_jobs_lease
    ON ai_evaluation_jobs (leadeval_state, leadeval_lease_expires_at);
-- A lead's jobs (history, re-evaluation guard).
CREATE INDEX IF NOT EXISTS leadeval_idx_jobs_lead ON ai_evaluation_jobs (lead_id);
