"""The SQL job store shared by every SQL backend, over a small executor port.

Queries live in ``sql/<dialect>.sql`` as named blocks (``-- name: claim_due``); SQLite and D1 share
``sqlite.sql``. Each job step is one *batch* of statements that the executor runs atomically (a
transaction for SQLite/PostgreSQL, one ``{"batch": [...]}`` request for D1), so the D1 budget holds:
one request per sweep, and per job one for claim-and-load, one for the fingerprint lookup and one for
the result write.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from leadeval.errors import StoreUnavailableError
from leadeval.models import Evaluation, Job, JobMessage, JobStatus, Lead, LeadDocument, Usage
from leadeval.ports import (
    ClaimResult,
    EvaluationOverride,
    LeadHistory,
    PriorSubmission,
    Reevaluation,
    SitePolicy,
    SweepOutcome,
)
from leadeval.timeutil import format_ts, parse_ts, plus_seconds, usage_month

logger = logging.getLogger(__name__)

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def load_queries(dialect: str = "sqlite") -> dict[str, str]:
    """Named queries of ``sql/<dialect>.sql`` as ``{name: sql}`` (comments kept, trailing ``;`` dropped)."""
    text = resources.files("leadeval.adapters.jobstore").joinpath(f"sql/{dialect}.sql").read_text("utf-8")
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        queries[name] = body.strip().rstrip(";").strip()
    return queries


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a batch: its query name (for errors and counting), text and named params."""

    name: str
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


class SqlExecutor(Protocol):
    """Runs batches of statements atomically for a :class:`SqlJobStore`.

    Raises: StoreUnavailableError (transient), ThrottledError, ConfigurationError, ProcessingError
    (an SQL bug, naming the statement).
    """

    dialect: str

    def execute_batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        """Run the statements in order, all or nothing; return each statement's rows as dicts."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def split_sql_script(script: str) -> list[str]:
    """Split a migration file into statements on ``;`` at line ends; drops comments and blanks.

    Migration files must not put ``;`` at a line end inside string literals.
    """
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(current).strip().rstrip(";").strip()
            if stmt:
                statements.append(stmt)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def default_migrations_dir() -> Path:
    """``migrations/`` at the repository root (the wrangler d1 migrations layout)."""
    return Path(__file__).resolve().parents[5] / "migrations"


def _json_load(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    return json.loads(value) if isinstance(value, str) else value


def evaluation_from_row(row: Mapping[str, Any]) -> Evaluation:
    """Build an :class:`Evaluation` from a ``lead_ai_evaluations`` row (JSON columns decoded)."""
    data = dict(row)
    data["reasons"] = _json_load(data.get("reasons"), [])
    data["documents"] = _json_load(data.get("documents"), [])
    data["flags"] = _json_load(data.get("flags"), [])
    return Evaluation.model_validate(data)


class SqlJobStore:
    """:class:`~leadeval.ports.JobStore` over a :class:`SqlExecutor` and a dialect's query file.

    Args:
        executor: runs batches atomically.
        migrations_dir: folder of ``NNNN_name.sql`` files (default: the repository's ``migrations/``).
    """

    def __init__(self, executor: SqlExecutor, *, migrations_dir: Path | None = None) -> None:
        self.executor = executor
        self.queries = load_queries(executor.dialect)
        self.migrations_dir = migrations_dir or default_migrations_dir()

    # ------------------------------------------------------------------ helpers
    def _stmt(self, query: str, /, **params: Any) -> Statement:
        return Statement(query, self.queries[query], params)

    def _run(self, *statements: Statement) -> list[list[dict[str, Any]]]:
        return self.executor.execute_batch(list(statements))

    def migration_statements(self, script: str) -> list[str]:
        """The statements of one migration file for this dialect (PostgreSQL translates them)."""
        return split_sql_script(script)

    # ------------------------------------------------------------------ migrations
    def migrate(self) -> list[str]:
        """Apply the migration files not yet recorded in ``leadeval_migrations``, in name order;
        each file and its record go in one batch. Returns the names applied."""
        self._run(self._stmt("migrations_table"))
        done = {row["name"] for row in self._run(self._stmt("applied_migrations"))[0]}
        applied = []
        for path in sorted(self.migrations_dir.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            if path.name in done:
                continue
            statements = [Statement(f"{path.name}#{i}", sql) for i, sql in
                          enumerate(self.migration_statements(path.read_text("utf-8")), 1)]
            statements.append(self._stmt("record_migration", name=path.name, now=format_ts(_now())))
            self._run(*statements)
            applied.append(path.name)
            logger.info("migration applied", extra={"migration": path.name})
        return applied

    # ------------------------------------------------------------------ sweep
    def sweep(self, *, now: datetime, limit: int, lease_seconds: float,
              rescue_after_seconds: float) -> SweepOutcome:
        ts = format_ts(now)
        rescue_before = format_ts(plus_seconds(now, -rescue_after_seconds))
        exhausted, to_pending, claimed = self._run(
            self._stmt("rescue_exhausted", now=ts, rescue_before=rescue_before),
            self._stmt("rescue_to_pending", now=ts, rescue_before=rescue_before),
            self._stmt("claim_due", now=ts, lease_until=format_ts(plus_seconds(now, lease_seconds)),
                       limit=int(limit)),
        )
        jobs = sorted((Job.model_validate(r) for r in claimed), key=lambda j: (j.requested_at, j.id))
        return SweepOutcome(claimed=jobs, rescued_to_pending=len(to_pending), rescued_to_failed=len(exhausted))

    def release(self, jobs: Sequence[Job], *, now: datetime) -> int:
        if not jobs:
            return 0
        ts = format_ts(now)
        results = self._run(*(self._stmt("release", now=ts, job_id=j.id, generation=j.generation)
                              for j in jobs))
        return sum(len(rows) for rows in results)

    # ------------------------------------------------------------------ worker
    def claim(self, message: JobMessage, *, now: datetime, lease_seconds: float,
              sent_at: datetime | None = None) -> ClaimResult:
        ts = format_ts(now)
        key = {"job_id": message.job_id, "generation": message.generation, "now": ts}
        lease_until = format_ts(plus_seconds(now, lease_seconds))
        claimed, redriven, exhausted, current, lead, docs, usage, policy = self._run(
            self._stmt("claim_job", lease_until=lease_until, **key),
            self._stmt("claim_redriven", lease_until=lease_until, sent_at=format_ts(sent_at), **key),
            self._stmt("fail_exhausted", **key),
            self._stmt("get_job", job_id=message.job_id),
            self._stmt("job_lead", job_id=message.job_id),
            self._stmt("job_documents", job_id=message.job_id),
            self._stmt("job_usage", job_id=message.job_id),
            self._stmt("job_policy", job_id=message.job_id),
        )
        if not current:
            return ClaimResult(status="not_found")
        job = Job.model_validate(current[0])
        if claimed or redriven:
            return ClaimResult(
                status="claimed", job=job, redriven=bool(redriven),
                lead=Lead.model_validate(lead[0]) if lead else None,
                documents=[LeadDocument.model_validate(d) for d in docs],
                usage=Usage.model_validate(usage[0]) if usage else None,
                policy_json=policy[0]["policy_json"] if policy else None,
            )
        if exhausted:
            return ClaimResult(status="exhausted", job=job)
        if job.generation > message.generation:
            return ClaimResult(status="stale_generation", job=job)
        if job.generation < message.generation:  # a generation the row has not reached (yet): never final
            return ClaimResult(status="ahead_generation", job=job)
        if job.status == JobStatus.CANCELLED:
            return ClaimResult(status="cancelled", job=job)
        if job.status == JobStatus.PROCESSING:
            return ClaimResult(status="in_flight", job=job)
        if job.status == JobStatus.FAILED and job.dead_lettered_at is not None:
            # Same generation, sent before the dead-lettering (else claim_redriven restarted the job): the
            # original redelivered after its DLQ send failed, or a duplicate. It belongs in the DLQ too.
            return ClaimResult(status="dead_lettered", job=job)
        if job.status.terminal:
            return ClaimResult(status="terminal", job=job)
        # queued/pending with its attempts spent but not crashed: nothing this message can do.
        return ClaimResult(status="stale_generation", job=job)

    def prior_submissions(self, file_hashes: Sequence[str]) -> list[PriorSubmission]:
        hashes = sorted(set(file_hashes))
        if not hashes:
            return []
        rows = self._run(self._stmt("prior_submissions", hashes=json.dumps(hashes)))[0]
        return [PriorSubmission(file_sha256=r["file_sha256"], name_hash=r["name_hash"]) for r in rows]

    def complete(self, job: Job, evaluation: Evaluation, *, now: datetime,
                 fingerprints: Sequence[PriorSubmission] = ()) -> bool:
        ts = format_ts(now)
        # The holder's claim number (attempts) is part of the guard: a worker whose lease expired and whose job
        # was reclaimed under the same generation can no longer write over the new holder.
        guard = {"job_id": job.id, "generation": job.generation, "attempts": job.attempts, "now": ts}
        ev = evaluation
        statements = [
            self._stmt(
                "insert_evaluation", id=ev.id, lead_id=ev.lead_id, site_id=ev.site_id, score=ev.score,
                label=ev.label, recommendation=ev.recommendation, summary=ev.summary,
                reasons=_dump_list(ev.reasons), documents=_dump_list(ev.documents),
                flags=_dump_list(ev.flags), monthly_income_cents=ev.monthly_income_cents,
                income_to_rent_ratio=ev.income_to_rent_ratio, policy_version=ev.policy_version,
                model=ev.model, model_version=ev.model_version, prompt_tokens=ev.prompt_tokens,
                completion_tokens=ev.completion_tokens, input_hash=ev.input_hash, **guard),
            self._stmt("update_lead_score", score=ev.score, label=ev.label, lead_status="evaluated",
                       lead_id=job.lead_id, site_id=job.site_id, **guard),
            *(self._stmt("record_fingerprint", file_sha256=f.file_sha256, name_hash=f.name_hash, now=ts)
              for f in fingerprints),
            self._stmt("complete_job", **guard),
        ]
        results = self._run(*statements)
        return bool(results[-1])

    def retry_later(self, job: Job, *, now: datetime, delay_seconds: float, error_code: str,
                    error_message: str, count_attempt: bool = True) -> bool:
        rows = self._run(self._stmt(
            "retry_later", job_id=job.id, generation=job.generation, attempts=job.attempts, now=format_ts(now),
            lease_until=format_ts(plus_seconds(now, delay_seconds)), count_attempt=1 if count_attempt else 0,
            error_code=error_code, error_message=error_message[:1000]))[0]
        return bool(rows)

    def fail(self, job: Job, *, now: datetime, error_code: str, error_message: str,
             dead_lettered: bool = False) -> bool:
        rows = self._run(self._stmt(
            "fail_job", job_id=job.id, generation=job.generation, attempts=job.attempts, now=format_ts(now),
            error_code=error_code,
            error_message=error_message[:1000], dead_lettered=1 if dead_lettered else 0))[0]
        return bool(rows)

    def reset_in_flight(self, *, now: datetime) -> int:
        """Local runtime only: every queued/processing job back to pending (its emulated queue died with the
        process that ran it). Never call this against a database a real queue serves."""
        return len(self._run(self._stmt("reset_in_flight", now=format_ts(now)))[0])

    # ------------------------------------------------------------------ operator
    def get_job(self, job_id: str) -> Job | None:
        rows = self._run(self._stmt("get_job", job_id=job_id))[0]
        return Job.model_validate(rows[0]) if rows else None

    def list_jobs(self, *, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        rows = self._run(self._stmt("list_jobs", status=str(status) if status else None, limit=int(limit)))[0]
        return [Job.model_validate(r) for r in rows]

    def get_evaluation(self, job_id: str) -> Evaluation | None:
        rows = self._run(self._stmt("get_evaluation", job_id=job_id))[0]
        return evaluation_from_row(rows[0]) if rows else None

    def cancel(self, job_id: str, *, now: datetime) -> bool:
        return bool(self._run(self._stmt("cancel_job", job_id=job_id, now=format_ts(now)))[0])

    def requeue(self, job_id: str, *, now: datetime) -> bool:
        return bool(self._run(self._stmt("requeue_job", job_id=job_id, now=format_ts(now)))[0])

    # ------------------------------------------------------------------ policies, overrides, history
    def set_policy(self, site_id: str, policy_json: str, *, now: datetime) -> SitePolicy:
        """Save the next version of ``site_id``'s policy (see :meth:`JobStore.set_policy`).

        Raises:
            ValueError: ``policy_json`` is not a JSON object, or ``site_id`` is empty.
            StoreUnavailableError: three concurrent saves in a row took the version number first.
        """
        if not site_id.strip():
            raise ValueError("site_id is empty")
        try:
            parsed = json.loads(policy_json)
        except ValueError as exc:
            raise ValueError(f"policy_json is not JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValueError("policy_json must be a JSON object")
        compact = json.dumps(parsed, separators=(",", ":"), sort_keys=True)
        for _ in range(3):
            rows = self._run(self._stmt("insert_policy", site_id=site_id, policy_json=compact,
                                        now=format_ts(now)))[0]
            if rows:
                return _policy(rows[0])
        raise StoreUnavailableError(f"could not take a policy version for site {site_id}: concurrent saves")

    def get_policy(self, site_id: str, version: int | None = None) -> SitePolicy | None:
        rows = self._run(self._stmt("get_policy", site_id=site_id,
                                    version=int(version) if version is not None else None))[0]
        return _policy(rows[0]) if rows else None

    def list_policies(self, site_id: str) -> list[SitePolicy]:
        return [_policy(r) for r in self._run(self._stmt("list_policies", site_id=site_id))[0]]

    def add_override(self, job_id: str, *, recommendation: str, reason: str, now: datetime,
                     override_id: str | None = None) -> EvaluationOverride | None:
        """Record an override (see :meth:`JobStore.add_override`); the reason is kept as given,
        trimmed, at most :data:`MAX_OVERRIDE_REASON_CHARS` characters.

        Raises:
            ValueError: ``recommendation`` is not approve/review/decline, or ``reason`` is blank or
                too long.
        """
        if recommendation not in ("approve", "review", "decline"):
            raise ValueError(f"recommendation must be approve, review or decline, not {recommendation!r}")
        reason = reason.strip()
        if not reason:
            raise ValueError("an override needs a reason")
        if len(reason) > MAX_OVERRIDE_REASON_CHARS:
            raise ValueError(f"the reason is {len(reason)} characters long; at most {MAX_OVERRIDE_REASON_CHARS}")
        rows = self._run(self._stmt("insert_override", id=override_id or _new_id("ovr_"), job_id=job_id,
                                    recommendation=recommendation, reason=reason, now=format_ts(now)))[0]
        return _override(rows[0]) if rows else None

    def list_overrides(self, job_id: str) -> list[EvaluationOverride]:
        return [_override(r) for r in self._run(self._stmt("job_overrides", job_id=job_id))[0]]

    def reevaluate(self, lead_id: str, *, now: datetime, max_attempts: int = 5,
                   job_id: str | None = None) -> Reevaluation:
        """One batch: create the job (guarded), count it in the month's usage row, and read the
        lead and its active jobs to explain a refusal."""
        new_id = job_id or _new_id("job_", 12)
        created, usage, lead, active = self._run(
            self._stmt("insert_reevaluation_job", job_id=new_id, lead_id=lead_id, now=format_ts(now),
                       max_attempts=int(max_attempts)),
            self._stmt("count_reevaluation_usage", job_id=new_id, month=usage_month(now), now=format_ts(now)),
            self._stmt("get_lead", lead_id=lead_id),
            self._stmt("lead_active_jobs", lead_id=lead_id, job_id=new_id),
        )
        if created:
            return Reevaluation(status="created", job=Job.model_validate(created[0]),
                                usage=Usage.model_validate(usage[0]) if usage else None)
        if not lead:
            return Reevaluation(status="lead_not_found")
        return Reevaluation(status="in_progress", active_job=Job.model_validate(active[0]) if active else None)

    def lead_history(self, lead_id: str) -> LeadHistory | None:
        lead, jobs, evaluations, overrides = self._run(
            self._stmt("get_lead", lead_id=lead_id),
            self._stmt("lead_jobs", lead_id=lead_id),
            self._stmt("lead_evaluations", lead_id=lead_id),
            self._stmt("lead_overrides", lead_id=lead_id),
        )
        if not lead:
            return None
        return LeadHistory(lead=Lead.model_validate(lead[0]), jobs=[Job.model_validate(r) for r in jobs],
                           evaluations=[evaluation_from_row(r) for r in evaluations],
                           overrides=[_override(r) for r in overrides])

    # ------------------------------------------------------------------ application-side writes
    def create_lead(self, lead: Lead) -> None:
        self._run(self._stmt(
            "insert_lead", id=lead.id, site_id=lead.site_id, first_name=lead.first_name,
            last_name=lead.last_name, email=lead.email, phone=lead.phone,
            monthly_rent_cents=lead.monthly_rent_cents, voucher_amount_cents=lead.voucher_amount_cents,
            move_in_date=lead.move_in_date.isoformat() if lead.move_in_date else None, status=lead.status,
            now=format_ts(lead.created_at or _now())))

    def add_document(self, document: LeadDocument) -> None:
        d = document
        self._run(self._stmt(
            "insert_document", id=d.id, lead_id=d.lead_id, site_id=d.site_id, document_type=d.document_type,
            file_name=d.file_name, mime_type=d.mime_type, storage_key=d.storage_key, size_bytes=d.size_bytes,
            uploaded_at=format_ts(d.uploaded_at or _now()), deleted_at=format_ts(d.deleted_at)))

    def create_job(self, job: Job) -> None:
        self._run(self._stmt(
            "insert_job", id=job.id, site_id=job.site_id, lead_id=job.lead_id, status=str(job.status),
            requested_at=format_ts(job.requested_at), generation=job.generation, attempts=job.attempts,
            max_attempts=job.max_attempts, now=format_ts(job.created_at or _now())))

    def upsert_usage(self, usage: Usage) -> None:
        self._run(self._stmt("upsert_usage", site_id=usage.site_id, month=usage.month,
                             evaluation_count=usage.evaluation_count, quota_limit=usage.quota_limit,
                             now=format_ts(_now())))

    def close(self) -> None:
        self.executor.close()


#: Longest override reason kept (characters): a sentence or two for the audit trail, not a file.
MAX_OVERRIDE_REASON_CHARS = 2000


def _policy(row: Mapping[str, Any]) -> SitePolicy:
    return SitePolicy(site_id=row["site_id"], version=int(row["version"]), policy_json=row["policy_json"],
                      created_at=parse_ts(row.get("created_at")))


def _override(row: Mapping[str, Any]) -> EvaluationOverride:
    return EvaluationOverride(id=row["id"], evaluation_id=row["evaluation_id"], job_id=row["job_id"],
                              recommendation=row["recommendation"], reason=row["reason"],
                              created_at=parse_ts(row.get("created_at")))


def _new_id(prefix: str, size: int = 16) -> str:
    from nanoid import generate

    return prefix + generate(size=size)


def _dump_list(items: Iterable[Any]) -> str:
    return json.dumps([i.model_dump(mode="json") for i in items], separators=(",", ":"))


def _now() -> datetime:
    from leadeval.timeutil import utcnow

    return utcnow()
