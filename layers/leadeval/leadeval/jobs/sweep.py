"""The sweep: rescue what no message will fix, claim due jobs, fan them out to SQS.

One database step (rescue + claim in one batch: one D1 request whatever the job count), then
``ceil(claimed / 10)`` SendMessageBatch calls. Jobs whose entries SQS rejected go back to pending.
Backpressure: nothing is claimed while the queue already holds ``backlog_limit`` messages or more,
so a sweep always ends well inside its timeout and moto/SQS queues stay shallow.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from pydantic import ValidationError

from leadeval.models import JobMessage
from leadeval.ports import JobQueue, JobStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    """Counts of one sweep (also the sweep Lambda's return value, via :meth:`as_dict`).

    Attributes:
        claimed: jobs moved pending -> queued.
        admitted: new rows (inserted or re-opened by the application) taken in.
        rejected: new rows failed ``InvalidJobRow`` (unreadable requested_at, no attempt allowed), and claimed
            jobs whose identifiers no message can carry.
        sent: messages SQS accepted.
        released: jobs put back to pending because SQS rejected their entry.
        rescued_to_pending / rescued_to_failed: long-expired jobs rescued.
        backlog: queue depth seen before claiming (-1 when not checked).
        claim_limit: how many jobs this sweep was allowed to claim after backpressure.
        sqs_calls: SendMessageBatch calls made.
    """

    claimed: int
    admitted: int
    rejected: int
    sent: int
    released: int
    rescued_to_pending: int
    rescued_to_failed: int
    backlog: int
    claim_limit: int
    sqs_calls: int

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (JSON-serialisable)."""
        return asdict(self)


def run_sweep(store: JobStore, queue: JobQueue, *, now: datetime, limit: int, backlog_limit: int,
              lease_seconds: float, rescue_after_seconds: float) -> SweepResult:
    """Run one sweep.

    Args:
        store: the job database.
        queue: the jobs queue.
        now: the sweep's clock (aware UTC).
        limit: most jobs to claim (``LEADEVAL_SWEEP_LIMIT``).
        backlog_limit: claim nothing while the queue holds at least this many messages.
        lease_seconds: lease given to queued jobs; rescue starts ``rescue_after_seconds`` after it.
        rescue_after_seconds: how long past its lease a queued/processing job is left alone.

    Raises:
        StoreUnavailableError, ThrottledError, ConfigurationError: the database step failed; nothing
        was claimed, so the next tick simply tries again.
    """
    backlog = queue.depth()
    claim_limit = max(0, min(limit, backlog_limit - backlog))
    # Rescue runs even when backpressure allows no claim (LIMIT 0 claims nothing).
    outcome = store.sweep(now=now, limit=claim_limit, lease_seconds=lease_seconds,
                          rescue_after_seconds=rescue_after_seconds, admit_limit=limit)
    for rejected in outcome.rejected:
        logger.error(f"[{rejected.id}] Job failed: InvalidJobRow: {rejected.reason}",
                     extra={"job_id": rejected.id, "error_code": "InvalidJobRow"})
    claimed = outcome.claimed
    sent = released = calls = 0
    messages, invalid = [], []
    for job in claimed:
        try:
            messages.append(JobMessage(job_id=job.id, site_id=job.site_id, lead_id=job.lead_id,
                                       generation=job.generation))
        except ValidationError:
            invalid.append(job)  # e.g. an empty site id written by the application: never blocks the others
    if invalid:
        reason = "the job's identifiers cannot be carried by a message (empty or over 64 characters)"
        store.fail_invalid(invalid, now=now, reason=reason)
        for job in invalid:
            logger.error(f"[{job.id}] Job failed: InvalidJobRow: {reason}",
                         extra={"job_id": job.id, "error_code": "InvalidJobRow"})
    if messages:
        result = queue.send(messages)
        sent, calls = len(result.sent), result.calls
        if result.failed:
            failed = set(result.failed)
            released += store.release([j for j in claimed if j.id in failed], now=now)
            logger.warning("SQS rejected entries; jobs released to pending",
                           extra={"rejected": len(failed), "released": released})
    sweep = SweepResult(claimed=len(claimed), admitted=outcome.admitted,
                        rejected=len(outcome.rejected) + len(invalid), sent=sent, released=released,
                        rescued_to_pending=outcome.rescued_to_pending,
                        rescued_to_failed=outcome.rescued_to_failed, backlog=backlog,
                        claim_limit=claim_limit, sqs_calls=calls)
    if backlog >= backlog_limit:
        logger.warning("queue backlog at limit; claimed nothing", extra={"backlog": backlog,
                                                                          "backlog_limit": backlog_limit})
    logger.info("sweep finished", extra=sweep.as_dict())
    return sweep
