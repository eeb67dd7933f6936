"""A lead's audit trail: every request, evaluation, failure, cancellation and override, in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from leadeval.jobs.records import EvaluationOverride
from leadeval.models import Evaluation, Job, JobState, JobStatus, Lead

HistoryEvent = Literal["requested", "re-evaluation requested", "evaluated", "failed", "cancelled", "override"]

_EVENT_ORDER = {"requested": 0, "re-evaluation requested": 0, "evaluated": 1, "failed": 1, "cancelled": 1,
                "override": 2}


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a lead's audit trail: what happened, when (UTC), to which job, and the row concerned."""

    at: datetime
    event: HistoryEvent
    job_id: str
    job: Job | None = None
    evaluation: Evaluation | None = None
    override: EvaluationOverride | None = None


@dataclass(frozen=True)
class LeadHistory:
    """Everything kept about one lead's evaluations (:meth:`JobStore.lead_history`).

    Attributes:
        lead: the lead.
        jobs: its jobs in the lead's site, oldest request first (the first evaluation and every
            re-evaluation; an operator retry re-runs a job under a new ``generation``).
        evaluations: one per completed job, oldest first — summary fields only (``documents``,
            ``reasons`` and ``flags`` are left empty; ``get_evaluation`` has them).
        overrides: every override of those evaluations, oldest first.
    """

    lead: Lead
    jobs: list[Job] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    overrides: list[EvaluationOverride] = field(default_factory=list)

    def timeline(self) -> list[HistoryEntry]:
        """Every request, evaluation, failure, cancellation and override in time order.

        A job's request is ``requested`` for the lead's first job and ``re-evaluation requested``
        for later ones. Ties (the same instant) order requests before outcomes before overrides.
        """
        evaluations = {e.job_id: e for e in self.evaluations}
        entries: list[HistoryEntry] = []
        for index, job in enumerate(self.jobs):
            requested = job.requested_at or job.created_at or _EPOCH
            entries.append(HistoryEntry(requested, "requested" if index == 0 else "re-evaluation requested",
                                        job.id, job=job))
            if job.id in evaluations:
                continue
            if job.state == JobState.CANCELLED:
                entries.append(HistoryEntry(job.completed_at or job.updated_at or requested, "cancelled",
                                            job.id, job=job))
            elif job.status == JobStatus.FAILED:
                entries.append(HistoryEntry(job.completed_at or job.updated_at or requested, "failed",
                                            job.id, job=job))
        jobs = {j.id: j for j in self.jobs}
        for ev in self.evaluations:
            entries.append(HistoryEntry(ev.created_at or _EPOCH, "evaluated", ev.job_id, job=jobs.get(ev.job_id),
                                        evaluation=ev))
        for o in self.overrides:
            entries.append(HistoryEntry(o.created_at or _EPOCH, "override", o.job_id, job=jobs.get(o.job_id),
                                        evaluation=evaluations.get(o.job_id), override=o))
        return sorted(entries, key=lambda e: (e.at, _EVENT_ORDER[e.event], e.job_id,
                                              e.override.id if e.override else ""))

    def in_force(self, evaluation: Evaluation) -> EvaluationOverride | None:
        """The override in force for ``evaluation`` (its latest), or None."""
        mine = [o for o in self.overrides if o.evaluation_id == evaluation.id]
        return max(mine, key=lambda o: (o.created_at or _EPOCH, o.id)) if mine else None

    @property
    def latest_evaluation(self) -> Evaluation | None:
        """The most recent evaluation (the one that stands), or None."""
        return max(self.evaluations, key=lambda e: (e.created_at or _EPOCH, e.id)) if self.evaluations else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


