"""The SQL job store shared by every SQL backend, over a small executor port.

Queries live in ``sql/queries.sql`` as named blocks (``-- name: claim_due``), with a dialect overlay
(``sql/sqlite.sql`` for SQLite and D1, ``sql/postgresql.sql``) replacing the blocks whose SQL differs, and
fragments (``-- name: _held``) pasted where a block says ``{{_held}}``. Each job step is one *batch* of
statements that the executor runs atomically (a transaction for SQLite/PostgreSQL, one ``{"batch": [...]}``
request for D1), so the D1 budget holds: one request per sweep; per worker invocation one claim-and-load for
all its records (``claim_group``) and one write of their outcomes with the fingerprint lookups in it
(``write_together``); a record alone, one claim (or none, carried by the previous record's write) and one write.

The application's tables are a contract (``sql/application_schema.sql``): queries read and write their
columns in the application's shape and vocabulary, and leadeval's lifecycle lives in its own ``leadeval_*``
columns and tables (``migrations/``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

from leadeval.errors import ConfigurationError, StoreUnavailableError
from leadeval.jobs.history import LeadHistory
from leadeval.jobs.records import (
    ClaimAhead,
    ClaimedJob,
    ClaimResult,
    EvaluationOverride,
    PriorSubmission,
    Reevaluation,
    RejectedJob,
    ResultWrite,
    ReuseCheck,
    SitePolicy,
    SweepOutcome,
)
from leadeval.models import Evaluation, Job, JobMessage, JobState, JobStatus, Lead, LeadDocument, Usage
from leadeval.timeutil import format_ts, parse_ts, plus_seconds, usage_month

logger = logging.getLogger(__name__)

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_FRAGMENT = re.compile(r"\{\{(_\w+)\}\}")
_MIGRATION_NAME = re.compile(r"^[0-9]{4}_\w+\.sql$")

#: The application's five tables (``sql/application_schema.sql``).
APPLICATION_TABLES = ("leads", "lead_documents", "ai_evaluation_usage", "ai_evaluation_jobs", "lead_ai_evaluations")


def _blocks(file_name: str) -> dict[str, str]:
    text = resources.files("leadeval.adapters.jobstore").joinpath(f"sql/{file_name}").read_text("utf-8")
    parts = _NAME_LINE.split(text)
    return {name: body.strip().rstrip(";").strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()


@cache
def load_queries(dialect: str = "sqlite") -> dict[str, str]:
    """Named queries for ``dialect``: ``sql/queries.sql`` overlaid by ``sql/<dialect>.sql``, fragments pasted
    in (``{{_name}}``; fragments themselves are left out). Returns ``{name: sql}``.

    Raises:
        KeyError: a block names a fragment that does not exist.
    """
    blocks = _blocks("queries.sql") | _blocks(f"{dialect}.sql")
    fragments = {name: _strip_comments(body) for name, body in blocks.items() if name.startswith("_")}

    def paste(sql: str) -> str:
        for _ in range(3):  # fragments may use fragments
            sql = _FRAGMENT.sub(lambda m: fragments[m.group(1)], sql)
        return sql

    return {name: paste(body) for name, body in blocks.items() if not name.startswith("_")}


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


def default_migrations(dialect: str) -> Traversable:
    """leadeval's migrations for ``dialect`` (``migrations/<dialect>/NNNN_name.sql`` beside this module, read with
    ``importlib.resources``, so they travel inside the Lambda layer); D1 applies the SQLite files."""
    return resources.files("leadeval.adapters.jobstore").joinpath("migrations", dialect)


def _json_load(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    return json.loads(value) if isinstance(value, str) else value


def evaluation_from_row(row: Mapping[str, Any]) -> Evaluation:
    """Build an :class:`Evaluation` from a joined ``lead_ai_evaluations`` + ``leadeval_evaluations`` row
    (JSON columns decoded; the summary queries leave the lists and JSON objects out)."""
    data = dict(row)
    for name, default in (("reasons", []), ("documents", []), ("flags", []), ("risk_flags", {}),
                          ("fraud_signals", {}), ("extracted_data", {})):
        data[name] = _json_load(data.get(name), default)
    return Evaluation.model_validate(data)


#: What a claim loads with the job, in this order (see ``_claim_result``).
_LOADS = ("get_job", "job_lead", "job_documents", "job_usage", "job_policy")


def _claimed(row: Mapping[str, Any]) -> ClaimedJob:
    return ClaimedJob(id=str(row["id"]), site_id=str(row["site_id"] or ""), lead_id=str(row["lead_id"] or ""),
                      generation=int(row["leadeval_generation"]),
                      requested_at=parse_ts(row.get("leadeval_requested_at")))


class SqlJobStore:
    """:class:`~leadeval.ports.JobStore` over a :class:`SqlExecutor` and a dialect's queries.

    Args:
        executor: runs batches atomically.
        migrations_dir: folder of ``NNNN_name.sql`` files (default: :func:`default_migrations` of the dialect).
    """

    def __init__(self, executor: SqlExecutor, *, migrations_dir: Path | Traversable | None = None) -> None:
        self.executor = executor
        self.queries = load_queries(executor.dialect)
        self.migrations_dir: Path | Traversable = migrations_dir or default_migrations(executor.dialect)

    # ------------------------------------------------------------------ helpers
    def _stmt(self, query: str, /, **params: Any) -> Statement:
        return Statement(query, self.queries[query], params)

    def _run(self, *statements: Statement) -> list[list[dict[str, Any]]]:
        return self.executor.execute_batch(list(statements))

    def migration_statements(self, script: str) -> list[str]:
        """The statements of one migration file (a dialect may drop some, see :class:`D1JobStore`)."""
        return split_sql_script(script)

    def migration_files(self) -> list[Path | Traversable]:
        """The migration files, in name order (``NNNN_name.sql``)."""
        return sorted((f for f in self.migrations_dir.iterdir() if _MIGRATION_NAME.match(f.name)),
                      key=lambda f: f.name)

    # ------------------------------------------------------------------ schema
    def application_tables(self) -> set[str]:
        """Which of the application's five tables (:data:`APPLICATION_TABLES`) this database has."""
        return {row["name"] for row in self._run(self._stmt("application_tables"))[0]}

    def _require_application_tables(self) -> None:
        present = self.application_tables()
        if len(present) < len(APPLICATION_TABLES):
            missing = ", ".join(t for t in APPLICATION_TABLES if t not in present)
            raise ConfigurationError(
                f"the application's tables are missing here ({missing}): LEADEVAL_DATABASE_URL must point at the "
                "application's database; for an embedded or test database run `leadeval db init`",
                variable="LEADEVAL_DATABASE_URL")

    def pending_migrations(self) -> list[str]:
        """The migration files not yet applied, in name order, read without changing the database.

        Raises:
            ConfigurationError: the application's tables are missing (as :meth:`migrate`).
        """
        self._require_application_tables()
        if not self._run(self._stmt("has_migrations_table"))[0]:
            return [path.name for path in self.migration_files()]
        done = {row["name"] for row in self._run(self._stmt("applied_migrations"))[0]}
        return [path.name for path in self.migration_files() if path.name not in done]

    def migrate(self) -> list[str]:
        """Apply the migration files not yet recorded in ``leadeval_migrations``, in name order; each file
        and its record go in one batch. Returns the names applied.

        Raises:
            ConfigurationError: the application's tables are missing (``LEADEVAL_DATABASE_URL`` does not
                point at the application's database; an embedded one needs ``leadeval db init``).
        """
        self._require_application_tables()
        self._run(self._stmt("migrations_table"))
        done = {row["name"] for row in self._run(self._stmt("applied_migrations"))[0]}
        applied = []
        for path in self.migration_files():
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
              rescue_after_seconds: float, admit_limit: int | None = None) -> SweepOutcome:
        ts = format_ts(now)
        rescue_before = format_ts(plus_seconds(now, -rescue_after_seconds))
        admit = int(limit if admit_limit is None else admit_limit)
        rejected, admitted, exhausted, crashed, lost, claimed = self._run(
            self._stmt("reject_new_rows", now=ts, limit=admit),
            self._stmt("admit_new_rows", now=ts, limit=admit),
            self._stmt("rescue_exhausted", now=ts, rescue_before=rescue_before),
            self._stmt("rescue_crashed", now=ts, rescue_before=rescue_before),
            self._stmt("rescue_lost", rescue_before=rescue_before),
            self._stmt("claim_due", now=ts, lease_until=format_ts(plus_seconds(now, lease_seconds)),
                       limit=int(limit)),
        )
        jobs = sorted((_claimed(r) for r in claimed), key=lambda j: (j.requested_at is None, j.requested_at, j.id))
        return SweepOutcome(claimed=jobs, admitted=len(admitted),
                            rejected=[RejectedJob(str(r["id"]), str(r["error_message"])) for r in rejected],
                            rescued_to_pending=len(crashed) + len(lost), rescued_to_failed=len(exhausted))

    def release(self, jobs: Sequence[ClaimedJob], *, now: datetime) -> int:
        if not jobs:
            return 0
        results = self._run(*(self._stmt("release", job_id=j.id, generation=j.generation) for j in jobs))
        return sum(len(rows) for rows in results)

    def fail_invalid(self, jobs: Sequence[ClaimedJob], *, now: datetime, reason: str) -> int:
        if not jobs:
            return 0
        ts = format_ts(now)
        results = self._run(*(self._stmt("fail_invalid", job_id=j.id, generation=j.generation, now=ts,
                                         error_message=reason[:1000]) for j in jobs))
        return sum(len(rows) for rows in results)

    # ------------------------------------------------------------------ worker
    def claim(self, message: JobMessage, *, now: datetime, lease_seconds: float,
              sent_at: datetime | None = None, claimed: ClaimResult | None = None) -> ClaimResult:
        """See :meth:`~leadeval.ports.LifecycleStore.claim`; ``claimed``: the result of this message's claim
        already made with the previous record's write (:class:`ClaimAhead`), returned as is (no request)."""
        if claimed is not None:
            return claimed
        statements = self._claim_statements(message, now=now, lease_seconds=lease_seconds, sent_at=sent_at)
        return self._claim_result(message, self._run(*statements))

    def claim_group(self, messages: Sequence[JobMessage], *, now: datetime,
                    lease_seconds: float) -> list[ClaimResult | None]:
        """See :meth:`~leadeval.ports.LifecycleStore.claim_group`: one batch of eight statements per message
        (reject, admit, claim in the group, then the job and what it needs)."""
        if not messages:
            return []
        ts = format_ts(now)
        lease_until = format_ts(plus_seconds(now, lease_seconds))
        statements: list[Statement] = []
        for message in messages:
            key = {"job_id": message.job_id, "generation": message.generation, "now": ts}
            statements += [
                self._stmt("reject_job", job_id=message.job_id, now=ts),
                self._stmt("admit_job", job_id=message.job_id, now=ts),
                self._stmt("claim_job_in_group", lease_until=lease_until, claim_group=len(messages), **key),
                *(self._stmt(name, job_id=message.job_id) for name in _LOADS),
            ]
        results = self._run(*statements)
        out: list[ClaimResult | None] = []
        per = 3 + len(_LOADS)
        for i, message in enumerate(messages):
            rejected, admitted, claimed, *loads = results[i * per:(i + 1) * per]
            result = self._claim_result(message, [rejected, admitted, claimed, [], [], *loads])
            if result.status == "claimed":
                out.append(dataclasses.replace(result, grouped=True))
            else:  # rejected: final; anything else is left to the message's own claim
                out.append(result if result.status == "rejected" else None)
        return out

    def _claim_statements(self, message: JobMessage, *, now: datetime, lease_seconds: float,
                          sent_at: datetime | None) -> list[Statement]:
        ts = format_ts(now)
        key = {"job_id": message.job_id, "generation": message.generation, "now": ts}
        lease_until = format_ts(plus_seconds(now, lease_seconds))
        return [
            self._stmt("reject_job", job_id=message.job_id, now=ts),
            self._stmt("admit_job", job_id=message.job_id, now=ts),
            self._stmt("claim_job", lease_until=lease_until, **key),
            self._stmt("claim_redriven", lease_until=lease_until, sent_at=format_ts(sent_at), **key),
            self._stmt("fail_exhausted", **key),
            *(self._stmt(name, job_id=message.job_id) for name in _LOADS),
        ]

    def _claim_result(self, message: JobMessage, results: Sequence[list[dict[str, Any]]]) -> ClaimResult:
        rejected, _admitted, claimed, redriven, exhausted, current, lead, docs, usage, policy = results
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
        if rejected:
            return ClaimResult(status="rejected", job=job)
        if exhausted:
            return ClaimResult(status="exhausted", job=job)
        if job.generation > message.generation:
            return ClaimResult(status="stale_generation", job=job)
        if job.generation < message.generation:  # a generation the row has not reached (yet): never final
            return ClaimResult(status="ahead_generation", job=job)
        state = job.state
        if state == JobState.CANCELLED:
            return ClaimResult(status="cancelled", job=job)
        if state == JobState.PROCESSING:
            return ClaimResult(status="in_flight", job=job)
        if state == JobState.DEAD_LETTERED:
            # Same generation, sent before the dead-lettering (else claim_redriven restarted the job): the
            # original redelivered after its DLQ send failed, or a duplicate. It belongs in the DLQ too.
            return ClaimResult(status="dead_lettered", job=job)
        if state.terminal:
            return ClaimResult(status="terminal", job=job)
        # pending but not claimable (e.g. a job re-opened by the application, not admitted yet): nothing
        # this message can do; the sweep sends the new run's message.
        return ClaimResult(status="stale_generation", job=job)

    def prior_submissions(self, file_hashes: Sequence[str]) -> list[PriorSubmission]:
        hashes = sorted(set(file_hashes))
        if not hashes:
            return []
        rows = self._run(self._stmt("prior_submissions", hashes=json.dumps(hashes)))[0]
        return [PriorSubmission(file_sha256=r["file_sha256"], name_hash=r["name_hash"]) for r in rows]

    def _held(self, job: Job, now: datetime) -> dict[str, Any]:
        # The holder's claim number is part of every guard: a worker whose lease expired and whose job was
        # reclaimed under the same generation can no longer write over the new holder.
        return {"job_id": job.id, "generation": job.generation, "claims": job.claims, "now": format_ts(now)}

    def complete(self, job: Job, evaluation: Evaluation, *, now: datetime,
                 fingerprints: Sequence[PriorSubmission] = (), claim_next: ClaimAhead | None = None,
                 reuse_check: ReuseCheck | None = None) -> bool:
        """See :meth:`~leadeval.ports.LifecycleStore.complete`; with ``reuse_check``, the write is guarded by
        the reuse check and the lookup of its hashes rides along in the same batch (``reuse_check.prior``)."""
        write = ResultWrite("complete", job, now, evaluation=evaluation, fingerprints=list(fingerprints),
                            reuse_check=reuse_check)
        self._write([write], claim_next, now)
        return bool(write.saved)

    def retry_later(self, job: Job, *, now: datetime, delay_seconds: float, error_code: str,
                    error_message: str, count_attempt: bool = True, claim_next: ClaimAhead | None = None) -> bool:
        write = ResultWrite("retry_later", job, now, delay_seconds=delay_seconds, error_code=error_code,
                            error_message=error_message, count_attempt=count_attempt)
        self._write([write], claim_next, now)
        return bool(write.saved)

    def fail(self, job: Job, *, now: datetime, error_code: str, error_message: str,
             dead_lettered: bool = False, claim_next: ClaimAhead | None = None) -> bool:
        write = ResultWrite("fail", job, now, error_code=error_code, error_message=error_message,
                            dead_lettered=dead_lettered)
        self._write([write], claim_next, now)
        return bool(write.saved)

    def write_together(self, writes: Sequence[ResultWrite]) -> None:
        """See :meth:`~leadeval.ports.LifecycleStore.write_together`: every write's statements in one batch."""
        if writes:
            self._write(writes, None, writes[0].now)

    def _write(self, writes: Sequence[ResultWrite], claim_next: ClaimAhead | None, now: datetime) -> None:
        """Run ``writes`` (then ``claim_next``'s claim) in one batch; set each write's ``saved`` (and a
        complete's ``reuse_check.prior``)."""
        statements: list[Statement] = []
        spans: list[tuple[int, int]] = []
        for write in writes:
            built = self._write_statements(write)
            spans.append((len(statements), len(built)))
            statements += built
        results = self._with_claim_ahead(statements, claim_next, now)
        for write, (first, count) in zip(writes, spans, strict=True):
            own = results[first:first + count]
            check = write.reuse_check
            if write.kind != "complete":
                write.saved = bool(own[0])
                continue
            looked_up = check is not None and bool(check.hashes)
            if check is not None:
                check.prior = [PriorSubmission(file_sha256=r["file_sha256"], name_hash=r["name_hash"])
                               for r in (own[-1] if looked_up else [])]
            write.saved = bool(own[-2] if looked_up else own[-1])  # complete_job's row

    def _write_statements(self, write: ResultWrite) -> list[Statement]:
        """The statements of one write: a complete's five (+ one per fingerprint, + the reuse lookup last), a
        retry's or a failure's one."""
        job, now = write.job, write.now
        guard = self._held(job, now)
        if write.kind == "retry_later":
            return [self._stmt(
                "retry_later", lease_until=format_ts(plus_seconds(now, write.delay_seconds)),
                count_attempt=1 if write.count_attempt else 0, error_code=write.error_code,
                error_message=write.error_message[:1000], **guard)]
        if write.kind == "fail":
            return [self._stmt("fail_job", error_code=write.error_code, error_message=write.error_message[:1000],
                               dead_lettered=1 if write.dead_lettered else 0, **guard)]
        ev, check = write.evaluation, write.reuse_check
        if ev is None:
            raise ValueError("a complete write needs its evaluation")
        hashes = check.hashes if check is not None else []
        statements = [
            self._stmt(
                "insert_evaluation_details", id=ev.id, lead_id=ev.lead_id, site_id=ev.site_id,
                reasons=_dump_list(ev.reasons), documents=_dump_list(ev.documents), flags=_dump_list(ev.flags),
                monthly_income_cents=ev.monthly_income_cents, income_to_rent_ratio=ev.income_to_rent_ratio,
                policy_version=ev.policy_version, model=ev.model, prompt_tokens=ev.prompt_tokens,
                completion_tokens=ev.completion_tokens, input_hash=ev.input_hash, pages=ev.pages,
                worker_ms=ev.worker_ms, reuse_hashes=json.dumps(hashes),
                applicant_hash=check.name_hash if check is not None else "", **guard),
            self._stmt(
                "insert_evaluation", id=ev.id, lead_id=ev.lead_id, site_id=ev.site_id, score=ev.score,
                label=ev.label, recommendation=ev.recommendation, summary=ev.summary,
                risk_flags=_dump_json(ev.risk_flags), fraud_signals=_dump_json(ev.fraud_signals),
                extracted_data=_dump_json(ev.extracted_data), model_version=ev.model_version, **guard),
            self._stmt("update_lead_score", score=ev.score, label=ev.label, lead_id=job.lead_id,
                       site_id=job.site_id, id=ev.id, **guard),
            *(self._stmt("record_fingerprint", file_sha256=f.file_sha256, name_hash=f.name_hash, now=guard["now"],
                         id=ev.id)
              for f in write.fingerprints),
            self._stmt("complete_job", id=ev.id, **guard),
        ]
        if hashes:
            statements.append(self._stmt("prior_submissions", hashes=json.dumps(sorted(set(hashes)))))
        return statements

    def unclaim(self, job: Job, *, now: datetime, lease_seconds: float) -> bool:
        """See :meth:`~leadeval.ports.LifecycleStore.unclaim`."""
        rows = self._run(self._stmt("unclaim_job", lease_until=format_ts(plus_seconds(now, lease_seconds)),
                                    **self._held(job, now)))[0]
        return bool(rows)

    def _with_claim_ahead(self, statements: list[Statement], claim_next: ClaimAhead | None,
                          now: datetime) -> list[list[dict[str, Any]]]:
        """Run a write's statements, followed in the same batch by the next record's claim when given (its
        result goes into ``claim_next.result``); returns the write's own results."""
        if claim_next is None:
            return self._run(*statements)
        claim = self._claim_statements(claim_next.message, now=now, lease_seconds=claim_next.lease_seconds,
                                       sent_at=claim_next.sent_at)
        results = self._run(*statements, *claim)
        claim_next.result = self._claim_result(claim_next.message, results[len(statements):])
        return results[:len(statements)]

    def reset_in_flight(self, *, now: datetime) -> int:
        """Local runtime only: every job with a message out (queued, retrying, snoozed) or held by a worker back
        to the sweep (its emulated queue died with the process that ran it). Never call this against a database
        a real queue serves."""
        return len(self._run(self._stmt("reset_in_flight", now=format_ts(now)))[0])

    # ------------------------------------------------------------------ operator
    def get_job(self, job_id: str) -> Job | None:
        rows = self._run(self._stmt("get_job", job_id=job_id))[0]
        return Job.model_validate(rows[0]) if rows else None

    def list_jobs(self, *, status: JobStatus | None = None, state: JobState | None = None,
                  limit: int = 100) -> list[Job]:
        rows = self._run(self._stmt("list_jobs", status=str(status) if status else None,
                                    state=str(state) if state else None, limit=int(limit)))[0]
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
                     override_id: str | None = None, created_by: str | None = None) -> EvaluationOverride | None:
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
                                    recommendation=recommendation, reason=reason, now=format_ts(now),
                                    created_by=created_by))[0]
        return _override(rows[0]) if rows else None

    def list_overrides(self, job_id: str) -> list[EvaluationOverride]:
        return [_override(r) for r in self._run(self._stmt("job_overrides", job_id=job_id))[0]]

    def reevaluate(self, lead_id: str, *, now: datetime, max_retries: int = 3,
                   job_id: str | None = None, requested_by: str | None = None) -> Reevaluation:
        """One batch: create the job (guarded), count it in the month's usage row, and read the
        lead and its active jobs to explain a refusal."""
        new_id = job_id or _new_id("job_", 12)
        created, usage, lead, active = self._run(
            self._stmt("insert_reevaluation_job", job_id=new_id, lead_id=lead_id, now=format_ts(now),
                       max_retries=int(max_retries), requested_by=requested_by),
            self._stmt("count_reevaluation_usage", job_id=new_id, month=usage_month(now)),
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

    def job_documents(self, job_id: str) -> list[LeadDocument]:
        return [LeadDocument.model_validate(d) for d in self._run(self._stmt("job_documents", job_id=job_id))[0]]

    # ------------------------------------------------------------------ application-side writes
    def create_lead(self, lead: Lead) -> None:
        self._run(self._stmt(
            "insert_lead", id=lead.id, site_id=lead.site_id, first_name=lead.first_name,
            last_name=lead.last_name, email=lead.email, phone=lead.phone,
            move_in_date=lead.move_in_date.isoformat() if lead.move_in_date else None,
            monthly_rent=float(lead.monthly_rent) if lead.monthly_rent is not None else None,
            voucher_cents=lead.voucher_amount_cents, status=lead.status,
            now=format_ts(lead.created_at or _now())))

    def add_document(self, document: LeadDocument) -> None:
        d = document
        self._run(self._stmt(
            "insert_document", id=d.id, lead_id=d.lead_id, document_type=d.document_type, mime_type=d.mime_type,
            storage_key=d.storage_key, uploaded_at=format_ts(d.uploaded_at or _now()),
            deleted_at=format_ts(d.deleted_at)))

    def create_job(self, job: Job, *, requested_at_text: str | None = None) -> None:
        if job.requested_at is None and requested_at_text is None:
            raise ValueError("a job needs a requested_at")
        self._run(self._stmt(
            "insert_job", id=job.id, lead_id=job.lead_id, site_id=job.site_id, requested_by=job.requested_by,
            requested_at=requested_at_text or format_ts(job.requested_at), model_version=job.model_version,
            max_retries=int(job.max_retries), now=format_ts(job.created_at or _now())))

    def add_usage(self, usage: Usage) -> Usage:
        _inserted, row = self._run(
            self._stmt("insert_usage", site_id=usage.site_id, month=usage.month,
                       evaluation_count=usage.evaluation_count, quota_limit=usage.quota_limit),
            self._stmt("get_usage", site_id=usage.site_id, month=usage.month))
        return Usage.model_validate(row[0])

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
                              created_at=parse_ts(row.get("created_at")), created_by=row.get("created_by"))


def _new_id(prefix: str, size: int = 16) -> str:
    from nanoid import generate

    return prefix + generate(size=size)


def _dump_list(items: Iterable[Any]) -> str:
    return json.dumps([i.model_dump(mode="json") for i in items], separators=(",", ":"))


def _dump_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _now() -> datetime:
    from leadeval.timeutil import utcnow

    return utcnow()
