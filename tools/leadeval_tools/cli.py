"""``leadeval``: the operator and local-run CLI.

Commands: ``demo`` (what ``make run`` runs), ``evaluate DIR``, ``db migrate``, ``jobs list|show|retry|cancel``,
``process`` (run due jobs locally), ``policy show|set`` (per-site scoring policy), ``evaluations override``,
``leads reevaluate|history`` (people stay in charge: docs/scoring.md §9–§12), ``dlq list|redrive``,
``pause``/``resume``.
Settings come from the environment (see README "Configuration"); a bad setting stops the command with
a message naming the variable.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadeval.config import Settings
from leadeval.errors import ConfigurationError, LeadevalError
from leadeval.jobs.records import EvaluationOverride
from leadeval.models import Evaluation, Job, JobState, JobStatus, Lead, LeadDocument, Usage
from leadeval.timeutil import usage_month, utcnow
from leadeval_tools.appdb import create_application_tables

app = typer.Typer(help="leadeval: serverless screening-evaluation job processor.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and manage evaluation jobs.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and redrive the dead-letter queue (LEADEVAL_DLQ_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(dlq_app, name="dlq")
policy_app = typer.Typer(help="Per-site scoring policies (versioned; the worker uses a site's latest).",
                         no_args_is_help=True)
evaluations_app = typer.Typer(help="People stay in charge: override an evaluation's recommendation.",
                              no_args_is_help=True)
leads_app = typer.Typer(help="A lead's re-evaluation (an applicant's dispute) and audit trail.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(evaluations_app, name="evaluations")
app.add_typer(leads_app, name="leads")

def _console(*, stderr: bool) -> Console:
    """A console that wraps only on a terminal: piped or redirected, lines and tables keep their full width
    (one record per line for grep and awk)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, soft_wrap=False)
    return Console(stderr=stderr, soft_wrap=True, width=100_000, no_color=True, highlight=False)


out = _console(stderr=False)
err = _console(stderr=True)

LOCAL_DEFAULTS = {
    # Local runs: quick backoff so a transient failure settles in seconds, metrics off (EMF noise).
    "LEADEVAL_RETRY_BASE_SECONDS": "2",
    "LEADEVAL_RETRY_CAP_SECONDS": "10",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "leadeval",
}


def _local_env() -> dict[str, str]:
    for key, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # Local runs: the JSON progress logs go to stderr, so stdout holds only the report (pipe-friendly).
    from leadeval.observability import logger as powertools_logger

    handler = powertools_logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.__stderr__ or sys.stderr)
    return dict(os.environ)


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigurationError as exc:
        err.print(f"[red]Configuration error:[/red] {escape(exc.message)}")
        raise typer.Exit(2) from exc


def _require_database(settings: Settings) -> Settings:
    """``settings`` when its database exists; exits 2 naming the path when an SQLite file is missing (opening
    it would create an empty file: a typo in the path must not leave one behind)."""
    if settings.database.kind == "sqlite" and not settings.sqlite_path().exists():
        err.print(f"[red]no database at {escape(str(settings.sqlite_path()))}[/red] (LEADEVAL_DATABASE_URL): "
                  "run `make run` or `leadeval evaluate …`, or `leadeval db init` for an empty embedded one")
        raise typer.Exit(2)
    return settings


def _store():
    from leadeval.wiring import make_job_store

    settings = _require_database(_settings())
    store = make_job_store(settings)
    try:
        require_migrated(store)
    except typer.Exit:
        store.close()
        raise
    return store


def require_migrated(store) -> None:
    """Exit 2 (the message on stderr) unless ``store`` holds the application's tables and every leadeval
    migration: operator commands and ``invoke`` never change the schema behind the operator's back (a Lambda
    never migrates either)."""
    try:
        pending = store.pending_migrations()
    except ConfigurationError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(2) from exc
    if pending:
        err.print(f"[red]the database lacks leadeval's migration(s) {', '.join(pending)}[/red]: run "
                  "`leadeval db migrate` first (LEADEVAL_DATABASE_URL)")
        raise typer.Exit(2)


# ---------------------------------------------------------------------------- db


@db_app.command("migrate")
def db_migrate() -> None:
    """Add leadeval's columns and tables (migrations/NNNN_*.sql) to the application's database at
    LEADEVAL_DATABASE_URL; a second run is a no-op. The application's tables must exist (`db init` creates
    them in an empty database)."""
    from leadeval.wiring import make_job_store

    store = make_job_store(_require_database(_settings()))
    try:
        applied = store.migrate()
    except ConfigurationError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(2) from exc
    out.print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else
                                                         " (database up to date)"))


@db_app.command("init")
def db_init() -> None:
    """Create the application's five tables, exactly in the application's schema, in an empty database (an
    embedded or test one: a real application database already has them), then apply leadeval's migrations.
    On a database that has them it only migrates."""
    from leadeval.wiring import make_job_store

    store = make_job_store(_settings())
    try:
        created = create_application_tables(store)
        applied = store.migrate()
    except ConfigurationError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(2) from exc
    out.print(("created the application's tables; " if created else "the application's tables exist; ")
              + f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


# ---------------------------------------------------------------------------- demo


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep the existing database (earlier evaluate results, overrides, "
                                            "policies, re-evaluations): load the sample only if it is not there "
                                            "yet, then run what is due (`make run KEEP=1`).")] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Start the embedded database afresh (unless --keep), load the sample data and run the pipeline until no
    job is due. Says first what it resets."""
    env = _local_env()
    settings = _settings()
    if settings.database.kind != "sqlite":
        err.print("[red]demo loads sample rows; it only runs on the embedded SQLite database.[/red]")
        raise typer.Exit(2)
    _refuse_if_paused()

    from leadeval_tools.local import LocalRunLock
    from leadeval_tools.samples import build_sample_set

    lock = LocalRunLock.for_settings(settings)
    lock.acquire()  # before deleting anything: another local run may be using this database
    try:
        _demo(env, settings, lock, keep=keep, timeout=timeout, sample=build_sample_set(today=utcnow().date()))
    finally:
        lock.release()


def _demo(env: dict[str, str], settings: Settings, lock, *, keep: bool, timeout: float, sample) -> None:
    """``demo`` once the run lock is held: start afresh (unless ``keep``), load the sample, run, report."""
    from leadeval_tools.local import LocalRuntime

    if not keep:
        path = settings.sqlite_path()
        err.print(_reset_notice(path))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.monotonic()
    with LocalRuntime(env, lock=lock) as runtime:
        services = runtime.services
        assert services is not None
        store = services.store
        applied = prepare_local_database(store)
        err.print(f"database {settings.database_url}: {len(applied)} migration(s) applied")
        if keep and store.get_job(sample.jobs[0].id) is not None:
            err.print("--keep: the database already holds the sample data; running what is due")
            runtime.recover_orphans()
        else:
            _load_sample(services, sample)
            err.print(f"sample data: {len(sample.sites)} sites, {len(sample.leads)} leads, "
                      f"{len(sample.documents)} documents, {len(sample.jobs)} pending jobs")
        _run_until_idle(runtime, timeout)
        jobs = [store.get_job(j.id) for j in sample.jobs]
        _print_jobs_table([j for j in jobs if j], store)
        counts = Counter(_outcome(j) for j in jobs if j)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        out.print(f"\n{len(jobs)} jobs: {summary} in {time.monotonic() - started:.1f}s "
                  f"({runtime.invocations['sweep']} sweep and {runtime.invocations['worker']} worker invocations)")
        _demo_reports(services, settings, [j.id for j in jobs if j])


def _demo_reports(services, settings: Settings, job_ids: list[str]) -> None:
    """The end of ``demo``: each job's report page in ``reports/`` beside the database (``.leadeval/reports``)."""
    from leadeval.screening.documents import DocumentLimits
    from leadeval_tools.report import write_reports

    folder = settings.sqlite_path().parent / "reports"
    paths = write_reports(services.store, services.documents, job_ids, folder, now=utcnow(),
                          limits=DocumentLimits.from_settings(settings))
    out.print(f"\n{len(paths)} reports (one page per job, open in a browser) in {folder}/:")
    for path in paths:
        out.print(f"  {path}")


def _reset_notice(path: Path) -> str:
    """What starting afresh deletes, counted (the work a person may want to keep), and how to keep it."""
    import sqlite3

    keep = "keep it with `make run KEEP=1` (leadeval demo --keep)"
    if not path.exists():
        return f"starting a fresh database at {path}"
    counts: dict[str, int] = {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            for label, table in (("jobs", "ai_evaluation_jobs"), ("evaluations", "lead_ai_evaluations"),
                                 ("overrides", "leadeval_overrides"), ("saved policies", "leadeval_site_policies")):
                try:
                    counts[label] = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                except sqlite3.Error:
                    counts[label] = 0
    except sqlite3.Error:
        return f"resetting {path} (unreadable); {keep}"
    held = ", ".join(f"{n} {label}" for label, n in counts.items())
    return (f"resetting {path}: deleting everything it holds ({held}, including earlier `evaluate` results and "
            f"re-evaluations) and loading the sample data again; {keep}")


def _refuse_if_paused() -> None:
    """A paused local runtime runs nothing: say so and exit 1 instead of waiting for the timeout."""
    from leadeval_tools.consumption import LocalConsumption

    if LocalConsumption().paused:
        err.print("[red]the local runtime is paused (`leadeval pause --local`): no job would run. "
                  "Resume it with `leadeval resume --local`, then try again.[/red]")
        raise typer.Exit(1)


def _check_evaluate_inputs(monthly_rent: float, voucher_amount: float, first_name: str, last_name: str,
                           site: str, move_in: str | None) -> date | None:
    """Refuse inputs that would make a meaningless evaluation; returns the move-in date.

    Raises:
        typer.BadParameter: naming the option.
    """
    if not math.isfinite(monthly_rent) or not 0 < monthly_rent <= 1_000_000:
        raise typer.BadParameter("must be a positive amount of dollars (at most 1,000,000)",
                                 param_hint="--monthly-rent")
    if not math.isfinite(voucher_amount) or not 0 <= voucher_amount <= monthly_rent:
        raise typer.BadParameter("must be between 0 and the monthly rent", param_hint="--voucher-amount")
    for hint, value in (("--first-name", first_name), ("--last-name", last_name)):
        if not value.strip():
            raise typer.BadParameter("must not be empty (documents are matched against the applicant's name)",
                                     param_hint=hint)
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", site):
        raise typer.BadParameter("1-64 letters, digits, '_', '-', '.' or ':'", param_hint="--site")
    if move_in is None:
        return None
    try:
        return date.fromisoformat(move_in)
    except ValueError:
        raise typer.BadParameter("expected a date as YYYY-MM-DD", param_hint="--move-in") from None


def _run_until_idle(runtime, timeout: float, job_ids: set[str] | None = None) -> None:
    """Run the local runtime until no job (or none of ``job_ids``) is active; exit 1 on timeout, 2 on a
    configuration error."""
    _refuse_if_paused()
    try:
        runtime.run_until_idle(timeout_seconds=timeout, job_ids=job_ids)
    except TimeoutError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    except ConfigurationError as exc:
        err.print(f"[red]Configuration error, stopping:[/red] {escape(exc.message)}")
        raise typer.Exit(2) from exc


def prepare_local_database(store, *, create: bool = True) -> list[str]:
    """A local run's database: the application's tables created when it is empty and ``create`` (``demo`` and
    ``evaluate`` act as the application: they write leads, documents and jobs), then leadeval's migrations.
    Returns the migrations applied. Exits 2 with the message on a database that has some of the application's
    tables but not all, or none of them when ``create`` is False (``process`` only runs jobs: a database
    without the application's tables is the wrong database, never one to invent)."""
    try:
        if create:
            create_application_tables(store)
        return store.migrate()
    except ConfigurationError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(2) from exc


def _load_sample(services, sample) -> None:
    """Write the sample rows as the application would: its columns, its formats (see ``samples.py``)."""
    store = services.store
    for storage_key, data in sample.files.items():
        services.documents.put(storage_key, data)
    for lead in sample.leads:
        store.create_lead(lead.to_model())
    for doc in sample.documents:
        store.add_document(doc.to_model())
    for usage in sample.usage:
        store.add_usage(usage.to_model())
    for job in sample.jobs:
        store.create_job(job.to_model(max_retries=services.settings.max_attempts),
                         requested_at_text=job.requested_at_text)


def _outcome(job: Job) -> str:
    """A job's state in words for tables: the application's status, or leadeval's finer state when it says
    more (queued, retrying, dead_lettered, cancelled…)."""
    state = str(job.state)
    return str(job.status) if state == str(job.status) else f"{job.status} ({state})"


def _print_jobs_table(jobs: list[Job], store) -> None:
    table = Table(title="Evaluation jobs")
    for column in ("job", "site", "lead", "status", "score", "label", "recommendation", "error code"):
        table.add_column(column)
    for job in jobs:
        ev = store.get_evaluation(job.id) if job.status == JobStatus.COMPLETED else None
        table.add_row(job.id, job.site_id, job.lead_id, _outcome(job), str(ev.score) if ev else "",
                      ev.label if ev else "", ev.recommendation if ev else "", job.error_code or "")
    out.print(table)


# ---------------------------------------------------------------------------- evaluate


@app.command()
def evaluate(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                              help="Folder of the applicant's documents.")],
    monthly_rent: Annotated[float, typer.Option(help="Monthly rent in dollars.")],
    first_name: Annotated[str, typer.Option(help="Applicant's first name (matched against the documents).")],
    last_name: Annotated[str, typer.Option(help="Applicant's last name.")],
    voucher_amount: Annotated[float, typer.Option(help="Part of the rent a housing voucher pays, dollars.")] = 0.0,
    move_in: Annotated[str | None, typer.Option(help="Move-in date, YYYY-MM-DD.")] = None,
    site: Annotated[str, typer.Option(help="Site id for the lead.")] = "site_local",
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Evaluate the files in DIRECTORY as one applicant's documents, through the full pipeline."""
    from nanoid import generate as nanoid

    from leadeval.screening.documents import sniff_type
    from leadeval_tools.local import LocalRuntime, folder_documents

    move_in_date = _check_evaluate_inputs(monthly_rent, voucher_amount, first_name, last_name, site, move_in)
    env = _local_env()
    settings = _settings()
    _refuse_if_paused()
    # Read through the local file store's guard: a link leading outside DIRECTORY is never followed.
    files: list[tuple[str, bytes]] = []
    for name, data, why in folder_documents(directory, max_bytes=settings.max_document_bytes, recursive=False):
        if data is None:
            err.print(f"[yellow]skipped {escape(name)}: {why}[/yellow]")
        else:
            files.append((name, data))
    if not files:
        err.print(f"[red]{escape(str(directory))} holds no files that can be read[/red]")
        raise typer.Exit(2)
    now = utcnow()
    lead_id, job_id = f"lead_{nanoid(size=12)}", f"job_{nanoid(size=12)}"
    with LocalRuntime(env) as runtime:
        services = runtime.services
        assert services is not None
        store = services.store
        prepare_local_database(store)
        runtime.recover_orphans()
        store.create_lead(Lead(id=lead_id, site_id=site, first_name=first_name.strip(),
                               last_name=last_name.strip(), monthly_rent=Decimal(str(monthly_rent)),
                               voucher_amount_cents=round(voucher_amount * 100), move_in_date=move_in_date))
        for i, (name, data) in enumerate(files, 1):
            kind = sniff_type(data)
            key = f"{site}/{lead_id}/{i:02d}/{name}"
            services.documents.put(key, data, content_type=_MIME.get(kind))
            # Uploaded in reverse so the application's order (newest upload first) is the folder's order.
            store.add_document(LeadDocument(id=f"doc_{nanoid(size=12)}", lead_id=lead_id, document_type="other",
                                            mime_type=_MIME.get(kind), storage_key=key,
                                            uploaded_at=now - timedelta(milliseconds=i)))
        # A site of its own gets a usage row; an existing site's row (the application's) is left as it is.
        store.add_usage(Usage(site_id=site, month=usage_month(now), evaluation_count=1, quota_limit=1_000_000))
        store.create_job(Job(id=job_id, site_id=site, lead_id=lead_id, status=JobStatus.PENDING,
                             requested_by="leadeval:evaluate", requested_at=now,
                             max_retries=services.settings.max_attempts))
        _run_until_idle(runtime, timeout, job_ids={job_id})
        job = store.get_job(job_id)
        assert job is not None
        _print_job(job, store.get_evaluation(job_id), store.list_overrides(job_id), names=_document_names(store, job))
        if job.error_code == "ConfigurationError":
            raise typer.Exit(2)
        if job.status != JobStatus.COMPLETED:  # failed or dead-lettered: the thing it ran failed
            raise typer.Exit(1)


_MIME = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
         "heic": "image/heic", "tiff": "image/tiff", "gif": "image/gif"}


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


def _ts(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if value else "—"


_VERDICT_STYLE = {"clean": "green", "edited": "bold red", "undetermined": "yellow", "unreadable": "magenta"}
_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def _print_job(job: Job, evaluation: Evaluation | None, overrides: Sequence[EvaluationOverride] = (), *,
               names: dict[str, str] | None = None) -> None:
    """Print a job, and its evaluation for a person: the result (and any override of it), then each
    document with its verdict, why, and the signals found on it, findings about the whole application,
    and the reasons with their points, standards and the data used. Text from files, metadata and
    people is escaped (a file named "[bold]x.pdf" prints as is). ``names`` (``{document id: file name}``)
    replaces document ids with file names wherever a person reads them."""
    from leadeval_tools.console import name_documents

    names = names or {}

    def say(text: str | None) -> str:
        return escape(name_documents(text or "", names))

    out.print(f"[bold]{job.id}[/bold]  site {job.site_id}  lead {job.lead_id}  status [bold]{_outcome(job)}[/bold]"
              f"  failed attempts {job.retry_count}/{job.max_retries}  generation {job.generation}")
    out.print(f"requested {_ts(job.requested_at)}"
              + (f"  ended {_ts(job.completed_at)}" if job.completed_at else ""))
    if job.error_code:
        out.print(f"[red]error {job.error_code}[/red]: {say(job.error_message)}"
                  + (f"  (dead-lettered {_ts(job.dead_lettered_at)})" if job.dead_lettered_at else ""))
    if evaluation is None:
        if names:
            out.print(f"documents of lead {job.lead_id} ({len(names)}): "
                      + ", ".join(f"{escape(name)} [dim]({doc_id})[/dim]" for doc_id, name in sorted(names.items())))
        return
    ev = evaluation
    ratio = f"{ev.income_to_rent_ratio:.2f}×" if ev.income_to_rent_ratio is not None else "—"
    out.print(f"\n[bold]Score {ev.score}  Label {ev.label}  Recommendation {ev.recommendation}[/bold]")
    if overrides:
        last = overrides[-1]
        out.print(f"[bold cyan]Overridden by {escape(last.created_by or 'a person')}: {last.recommendation}[/bold cyan]"
                  f" on {_ts(last.created_at)} ({last.id}): {escape(last.reason)}")
        if len(overrides) > 1:
            out.print(f"  {len(overrides) - 1} earlier override(s): leadeval leads history {ev.lead_id}")
    out.print(say(ev.summary))
    out.print(f"monthly income {_money(ev.monthly_income_cents)}  income-to-rent {ratio}  policy "
              f"{ev.policy_version}  model {ev.model}" + (f" ({ev.model_version})" if ev.model_version else "")
              + f"  evaluated {_ts(ev.created_at)}")
    counts = Counter(str(d.verdict) for d in ev.documents)
    out.print(f"\n[bold]Documents[/bold] ({len(ev.documents)}: "
              + ", ".join(f"{counts[v]} {v}" for v in _VERDICT_STYLE if counts[v]) + ")")
    for d in ev.documents:
        verdict = str(d.verdict)
        what = ", ".join(x for x in (d.detected_type, str(d.kind).replace("_", " ") if d.kind else None) if x)
        out.print(f"  [{_VERDICT_STYLE.get(verdict, 'bold')}]{verdict:<12}[/] {escape(d.file_name or d.document_id)}"
                  f"  [dim]{d.document_id}{'; ' + escape(what) if what else ''}[/dim]")
        out.print(f"  {'':<12} {say(d.reason)}")
        for sig in d.signals:
            out.print(f"  {'':<12} [{_SEVERITY_STYLE[sig.severity]}]{sig.severity:<6}[/] {sig.code}: "
                      f"{say(sig.evidence)}")
    application = [sig for sig in ev.flags if sig.document_id is None]
    if application:
        out.print("\n[bold]Findings about the whole application[/bold]")
        for sig in application:
            out.print(f"  [{_SEVERITY_STYLE[sig.severity]}]{sig.severity:<6}[/] {sig.code}: {say(sig.evidence)}")
    out.print("\n[bold]Reasons[/bold]")
    for r in ev.reasons:
        pts = f" [{r.points:+d} points]" if r.points else ""
        out.print(f"  - {say(r.text)}{escape(pts)}")
        if r.standard:
            out.print(f"      standard: {say(r.standard)}")
        if r.data_used:
            out.print(f"      data used: {say('; '.join(r.data_used))}")


@app.command("process")
def process_jobs(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Process the jobs that are due with the local runtime (the real sweep and worker handlers over an
    emulated queue) until none is pending, queued or processing: for example after `leads reevaluate`.
    Documents come from LEADEVAL_DOCUMENTS_URL, or (unset) the copy local runs keep beside the SQLite database."""
    from leadeval_tools.local import LocalRuntime

    env = _local_env()
    settings = _settings()
    _refuse_if_paused()  # first: a paused runtime is what the operator needs to hear
    _require_database(settings)
    with LocalRuntime(env) as runtime:
        services = runtime.services
        assert services is not None
        store = services.store
        prepare_local_database(store, create=False)
        runtime.recover_orphans()
        active = {job.id for status in (JobStatus.PENDING, JobStatus.PROCESSING)
                  for job in store.list_jobs(status=status, limit=100_000)}
        _run_until_idle(runtime, timeout)
        ended = [job for job in (store.get_job(job_id) for job_id in sorted(active)) if job is not None]
        failed = [job for job in ended if job.status == JobStatus.FAILED]
        out.print(f"{len(active)} active job(s) processed: {len(ended) - len(failed)} completed, {len(failed)} failed "
                  f"({runtime.invocations['sweep']} sweep and {runtime.invocations['worker']} worker invocations)")
        for job in failed:
            out.print(f"  {job.id}: {_outcome(job)} {job.error_code or ''}")
        if failed:
            raise typer.Exit(1)


# ---------------------------------------------------------------------------- report


@app.command("report")
def report(
    job_id: Annotated[str, typer.Argument(help="The evaluation request (job) to report on.")],
    html: Annotated[Path | None, typer.Option("--html", dir_okay=False, help="Write the page to this file.")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", dir_okay=False,
                                             help="Print it to this PDF (headless Chromium).")] = None,
) -> None:
    """Write the property manager's report of one job: the decision, the reasons, the income calculation, each
    document with its verdict and its pages (findings drawn on them), the history and the applicant's rights.
    One self-contained HTML page (no network, no external file); --pdf prints it with headless Chromium.
    Documents come from LEADEVAL_DOCUMENTS_URL, or (unset) the copy local runs keep beside the SQLite database."""
    from leadeval.errors import ResourceNotFound
    from leadeval.screening.documents import DocumentLimits
    from leadeval.wiring import make_document_store
    from leadeval_tools.report import build_report, write_html, write_pdf

    if html is None and pdf is None:
        err.print("[red]say where to write the report: --html FILE and/or --pdf FILE[/red]")
        raise typer.Exit(2)
    store = _store()
    settings = _settings()
    if os.environ.get("LEADEVAL_DOCUMENTS_URL"):
        documents = make_document_store(settings)
    else:
        from leadeval.adapters.storage.local import LocalDocumentStore
        from leadeval_tools.local import mirror_folder

        documents = LocalDocumentStore(mirror_folder(settings))
    try:
        built = build_report(store, documents, job_id, now=utcnow(), limits=DocumentLimits.from_settings(settings))
    except ResourceNotFound as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(1) from exc
    for path, write in ((html, write_html), (pdf, write_pdf)):
        if path is not None:
            write(built, path)
            out.print(f"wrote {path}")


# ---------------------------------------------------------------------------- jobs

_StatusOpt = Annotated[JobStatus | None, typer.Option(help="The application's status (pending, processing, "
                                                           "completed, failed).")]
_StateOpt = Annotated[JobState | None, typer.Option(help="leadeval's finer state (queued, retrying, snoozed, "
                                                         "dead_lettered, cancelled…).")]
_SiteOpt = Annotated[str | None, typer.Option(help="Only this site's jobs.")]
_CodeOpt = Annotated[str | None, typer.Option("--error-code", help="Only jobs with this error code.")]
_SinceOpt = Annotated[str | None, typer.Option(help="Requested at or after: YYYY-MM-DD, ISO time, or 6h / 2d ago.")]
_UntilOpt = Annotated[str | None, typer.Option(help="Requested before: YYYY-MM-DD, ISO time, or 6h / 2d ago.")]


def _job_filter(status: JobStatus | None, state: JobState | None, site: str | None, error_code: str | None,
                since: str | None, until: str | None):
    """The console's filter from the options (exit 2 naming the option for a bad time)."""
    from leadeval_tools.console import JobFilter, parse_when

    when = {}
    for hint, value in (("--since", since), ("--until", until)):
        if value is not None:
            try:
                when[hint] = parse_when(value)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint=hint) from None
    return JobFilter(status=status, state=state, site=site, error_code=error_code, since=when.get("--since"),
                     until=when.get("--until"))


@jobs_app.command("list")
def jobs_list(
    status: _StatusOpt = None, state: _StateOpt = None, site: _SiteOpt = None, error_code: _CodeOpt = None,
    since: _SinceOpt = None, until: _UntilOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Most jobs to show.")] = 50,
) -> None:
    """List jobs, newest request first (one query per page): state, failed attempts / limit, generation,
    dead-lettered, score, label, recommendation, error code. Exit 0 even when none matches."""
    from leadeval_tools.console import list_jobs_page

    where = _job_filter(status, state, site, error_code, since, until)
    unreadable: list[tuple[str, str]] = []
    rows = list_jobs_page(_store(), where, limit=limit, unreadable=unreadable)
    table = Table(title=f"Evaluation jobs ({where.describe()}): {len(rows)}"
                  + (" (limit reached: --limit)" if len(rows) == limit else ""))
    for column in ("job", "site", "lead", "status", "attempts", "gen", "dead-lettered", "score", "label",
                   "recommendation", "error code", "requested"):
        table.add_column(column)
    for row in rows:
        job = row.job
        table.add_row(job.id, job.site_id, job.lead_id, _outcome(job), f"{job.retry_count}/{job.max_retries}",
                      str(job.generation), _ts(job.dead_lettered_at) if job.dead_lettered_at else "",
                      "" if row.score is None else str(row.score), row.label or "", row.recommendation or "",
                      job.error_code or "", _ts(job.requested_at))
    out.print(table)
    for job_id, raw_status in unreadable:
        err.print(f"[yellow]job {escape(job_id)} left out: its status {escape(repr(raw_status))} is not one of the "
                  "application's values (pending, processing, completed, failed)[/yellow]")


def _document_names(store, job: Job) -> dict[str, str]:
    from leadeval_tools.console import document_names

    return document_names(store, job.lead_id)


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """Show one job: its state, error, and evaluation with each document named by its file name (verdict,
    reason, signals), flags and reasons. Exit 1 when there is no such job."""
    store = _store()
    job = store.get_job(job_id)
    if job is None:
        err.print(f"[red]no job {escape(job_id)}[/red]")
        raise typer.Exit(1)
    _print_job(job, store.get_evaluation(job_id), store.list_overrides(job_id), names=_document_names(store, job))


def _bulk(action: str, job_ids: list[str] | None, where, *, yes: bool, limit: int) -> None:
    """``jobs retry|cancel`` over ids or a filter: list what matches (dry run) or, with ``yes``, act on each
    and count. Exit 1 when nothing matched or some could not be changed; 2 for no selection at all."""
    from leadeval_tools.console import list_jobs_page

    store = _store()
    act = store.requeue if action == "retry" else store.cancel
    if job_ids and not where.empty:
        raise typer.BadParameter("give job ids or filter options, not both")
    if job_ids:
        chosen = list(dict.fromkeys(job_ids))
    elif where.empty:
        raise typer.BadParameter("name JOB_ID(s) or a filter (--state, --site, --error-code, --since, --until)")
    else:
        chosen = [row.job.id for row in list_jobs_page(store, where, limit=limit)]
        verb = "retried" if action == "retry" else "cancelled"
        if not chosen:
            err.print(f"[red]no job matches ({where.describe()})[/red]")
            raise typer.Exit(1)
        if not yes:
            out.print(f"dry run: {len(chosen)} job(s) match ({where.describe()}) and would be {verb}: "
                      + ", ".join(chosen))
            out.print(f"nothing changed; run again with --yes to {action} them")
            return
    done, refused = _apply(store, act, action, chosen)
    out.print(f"{len(done)} of {len(chosen)} job(s) {'retried' if action == 'retry' else 'cancelled'}")
    if refused:
        raise typer.Exit(1)


def _apply(store, act, action: str, chosen: list[str]) -> tuple[list[str], list[str]]:
    """Act on each job; print one line per job. Returns (changed, refused)."""
    done, refused = [], []
    for job_id in chosen:
        if act(job_id, now=utcnow()):
            job = store.get_job(job_id)
            done.append(job_id)
            out.print(f"{job_id}: " + (f"pending again (generation {job.generation if job else '?'})"
                                       if action == "retry" else "cancelled"))
            continue
        refused.append(job_id)
        job = store.get_job(job_id)
        if job is None:
            err.print(f"[red]no job {escape(job_id)}[/red]")
        elif action == "retry":
            err.print(f"[red]{escape(job_id)}: not retried ({_outcome(job)}; only failed jobs that were not "
                      "cancelled)[/red]")
        else:
            err.print(f"[red]{escape(job_id)}: not cancelled ({_outcome(job)}; only jobs not started yet)[/red]")
    return done, refused


_YesOpt = Annotated[bool, typer.Option("--yes", help="Act on what the filter matches (without it: a dry run).")]
_BulkLimit = Annotated[int, typer.Option(min=1, help="Most jobs a filter selects.")]


@jobs_app.command("retry")
def jobs_retry(
    job_ids: Annotated[list[str] | None, typer.Argument(help="Jobs to retry (or use a filter).")] = None,
    state: _StateOpt = None, site: _SiteOpt = None, error_code: _CodeOpt = None, since: _SinceOpt = None,
    until: _UntilOpt = None, yes: _YesOpt = False, limit: _BulkLimit = 1000,
) -> None:
    """Send failed jobs (permanent or dead-lettered, not cancelled) back to pending under a new generation,
    their failed attempts reset: the named JOB_IDs at once, or every failed job a filter matches (a dry run
    listing them, then --yes), e.g. `jobs retry --error-code ModelUnavailable --since 6h --yes`.
    Exit 1 when nothing matched or a job could not be retried."""
    where = _job_filter(JobStatus.FAILED if not job_ids else None, state, site, error_code, since, until)
    if not job_ids and where.state is None and not any((site, error_code, since, until)):
        where = _job_filter(None, None, site, error_code, since, until)  # no filter given: refused below
    _bulk("retry", job_ids, where, yes=yes, limit=limit)


@jobs_app.command("cancel")
def jobs_cancel(
    job_ids: Annotated[list[str] | None, typer.Argument(help="Jobs to cancel (or use a filter).")] = None,
    state: _StateOpt = None, site: _SiteOpt = None, error_code: _CodeOpt = None, since: _SinceOpt = None,
    until: _UntilOpt = None, yes: _YesOpt = False, limit: _BulkLimit = 1000,
) -> None:
    """Cancel jobs not started yet (pending, queued, retrying or snoozed): each ends failed with error code
    Cancelled, and a message still in flight for it is acked, never processed. The named JOB_IDs at once,
    or every pending job a filter matches (a dry run, then --yes). Exit 1 when nothing matched or a job
    could not be cancelled."""
    where = _job_filter(JobStatus.PENDING if not job_ids else None, state, site, error_code, since, until)
    if not job_ids and where.state is None and not any((site, error_code, since, until)):
        where = _job_filter(None, None, site, error_code, since, until)
    _bulk("cancel", job_ids, where, yes=yes, limit=limit)


# ---------------------------------------------------------------------------- policy


def _policy_settings(policy_json: str) -> dict:
    import json

    data = json.loads(policy_json)
    data.pop("version", None)
    return data


def _known_site_or_exit(store, site: str, *, create: bool, hint: str = "") -> None:
    """Exit 1 naming the site when no row names it (unless ``create``); ``hint`` says what to do then."""
    from leadeval_tools.console import site_known

    if create or site_known(store, site):
        return
    err.print(f"[red]no site {escape(site)}: no lead, job, usage row or policy names it{hint}[/red]")
    raise typer.Exit(1)


@policy_app.command("show")
def policy_show(
    site: Annotated[str, typer.Argument(help="The site id.")],
    version: Annotated[int | None, typer.Option(help="This saved version instead of the latest.")] = None,
) -> None:
    """Show the policy a site's evaluations use now (or a saved VERSION), and every saved version."""
    import json

    from leadeval.screening.policy import ScoringPolicy

    store = _store()
    _known_site_or_exit(store, site, create=False)
    versions = store.list_policies(site)
    chosen = store.get_policy(site, version)
    if version is not None and chosen is None:
        err.print(f"[red]site {site} has no policy version {version}[/red]")
        raise typer.Exit(1)
    if chosen is None:
        out.print(f"site {site} has no saved policy: the defaults ([bold]default-1[/bold]) apply")
        out.print_json(ScoringPolicy().model_dump_json())
        return
    state = "in force" if chosen.version == versions[0].version else f"superseded by v{versions[0].version}"
    out.print(f"site {site}: policy [bold]{chosen.label}[/bold] (version {chosen.version} of {len(versions)}, "
              f"saved {_ts(chosen.created_at)}, {state})")
    changed = sorted(k for k in json.loads(chosen.policy_json) if k != "version")
    out.print("settings this site chose: " + (", ".join(changed) if changed else "none (the defaults)")
              + "; the policy in full:")
    out.print_json(ScoringPolicy.from_stored(chosen.policy_json).model_dump_json())
    if len(versions) > 1:
        out.print("saved versions: " + ", ".join(f"v{p.version} {_ts(p.created_at)}" for p in versions))


@policy_app.command("set")
def policy_set(
    site: Annotated[str, typer.Argument(help="The site id.")],
    file: Annotated[Path, typer.Option("--file", exists=True, dir_okay=False,
                                       help="JSON object of policy settings; unset ones take the defaults.")],
    create_site: Annotated[bool, typer.Option(help="Save it even though no lead, job or usage row names the "
                                                   "site yet (a new site).")] = False,
) -> None:
    """Save FILE as the site's new policy version (validated first; old versions are kept, and jobs
    claimed from now on use the new one). A "version" in the file is replaced by SITE-vN. A site no row
    names is refused (a typo would create a policy nobody uses) unless --create-site."""
    from pydantic import ValidationError

    from leadeval.screening.policy import ScoringPolicy

    try:
        policy = ScoringPolicy.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        err.print(f"[red]{escape(str(file))} is not a valid scoring policy ({exc.error_count()} error(s)):[/red]")
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())) or "(the whole file)"
            err.print(f"  - {escape(where)}: {escape(error.get('msg', 'invalid'))}")
        raise typer.Exit(2) from exc
    import json

    given = json.loads(file.read_bytes()).get("version")
    if given is not None:
        out.print(f"note: the file's version {escape(repr(given))} is replaced by the saved version's name")
    store = _store()
    _known_site_or_exit(store, site, create=create_site,
                        hint=" (a typo? a new site: add --create-site)")
    previous = store.get_policy(site)
    saved = store.set_policy(site, policy.stored_json(), now=utcnow())  # what the site changed, not the defaults
    out.print(f"site {site}: saved policy [bold]{saved.label}[/bold] (version {saved.version}); "
              "jobs claimed from now on are scored with it")
    before = _policy_settings(ScoringPolicy.from_stored(previous.policy_json).model_dump_json() if previous
                              else ScoringPolicy().model_dump_json())
    after = _policy_settings(ScoringPolicy.from_stored(saved.policy_json).model_dump_json())
    changed = [k for k in sorted(after) if before.get(k) != after.get(k)]
    basis = previous.label if previous else "the defaults"
    out.print(f"changed from {basis}: " + ("; ".join(f"{k} {before.get(k)} → {after[k]}" for k in changed)
                                           if changed else "nothing"))


# ---------------------------------------------------------------------------- evaluations


class OverrideChoice(StrEnum):
    """What a person can decide."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


@evaluations_app.command("override")
def evaluations_override(
    job_id: Annotated[str, typer.Argument(help="The job whose evaluation is overridden.")],
    recommendation: Annotated[OverrideChoice, typer.Option(help="The recommendation a person decided on.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail; required).")],
    by: Annotated[str, typer.Option("--by", help="Who decides: your name or e-mail (kept in the audit trail; "
                                                 "required).")],
) -> None:
    """Record a person's recommendation and reason for a job's evaluation. The evaluation is kept as
    it was; the override is shown beside it (`jobs show`, `leads history`), and a later override of
    the same evaluation supersedes this one. Who (--by) and when are recorded with it."""
    if not by.strip() or len(by.strip()) > 200:
        raise typer.BadParameter("say who decides (1-200 characters)", param_hint="--by")
    store = _store()
    evaluation = store.get_evaluation(job_id)
    if evaluation is None:
        job = store.get_job(job_id)
        err.print(f"[red]job {escape(job_id)} has no evaluation to override "
                  f"({'status ' + str(job.status) if job else 'no such job'})[/red]")
        raise typer.Exit(1)
    try:
        saved = store.add_override(job_id, recommendation=recommendation.value, reason=reason, now=utcnow(),
                                   created_by=by.strip())
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    if saved is None:  # the evaluation vanished between the two calls: nothing was recorded
        err.print(f"[red]job {escape(job_id)} has no evaluation to override[/red]")
        raise typer.Exit(1)
    out.print(f"job {job_id}: evaluation {evaluation.id} recommended {evaluation.recommendation} "
              f"(score {evaluation.score}, {evaluation.label}); a person decided [bold]{saved.recommendation}"
              f"[/bold] ({saved.id}, by {escape(saved.created_by or '?')} on {_ts(saved.created_at)})")
    out.print(f"reason: {escape(saved.reason)}")


# ---------------------------------------------------------------------------- leads


@leads_app.command("reevaluate")
def leads_reevaluate(lead_id: Annotated[str, typer.Argument(help="The lead to evaluate again.")]) -> None:
    """Start a new evaluation of a lead with its current documents (an applicant's dispute, new
    documents): a new pending job, requested now, counted in the site's usage for the month. Refused
    while a job of the lead is still pending, queued or processing. Earlier evaluations are kept."""
    store = _store()
    result = store.reevaluate(lead_id, now=utcnow(), max_retries=_settings().max_attempts,
                              requested_by="leadeval:reevaluate")
    if result.status == "lead_not_found":
        err.print(f"[red]no lead {escape(lead_id)}[/red]")
        raise typer.Exit(1)
    if result.status == "in_progress":
        active = result.active_job
        err.print(f"[red]lead {escape(lead_id)} already has job {active.id if active else '?'} "
                  f"({_outcome(active) if active else 'active'}); its evaluation will be the next one[/red]")
        raise typer.Exit(1)
    job = result.job
    assert job is not None
    out.print(f"lead {lead_id}: re-evaluation job [bold]{job.id}[/bold] created (site {job.site_id}, pending, "
              f"requested {_ts(job.requested_at)}); the next sweep queues it")
    if result.usage is None:
        out.print(f"no usage row for {usage_month(job.requested_at or utcnow())}: the quota is not checked for it")
        return
    u = result.usage
    out.print(f"usage {u.month}: {u.evaluation_count} of {u.quota_limit}")
    if u.evaluation_count > u.quota_limit:
        err.print(f"[yellow]the site is over its quota for {u.month}: this job will fail with QuotaExceeded "
                  "unless the quota is raised[/yellow]")


@leads_app.command("history")
def leads_history(lead_id: Annotated[str, typer.Argument(help="The lead.")]) -> None:
    """Every evaluation of a lead (per job: score, label, recommendation, policy version, model, when),
    every override and every re-evaluation, in time order; then the result that stands."""
    store = _store()
    history = store.lead_history(lead_id)
    if history is None:
        err.print(f"[red]no lead {escape(lead_id)}[/red]")
        raise typer.Exit(1)
    out.print(f"lead [bold]{lead_id}[/bold]  site {history.lead.site_id}: {len(history.jobs)} job(s), "
              f"{len(history.evaluations)} evaluation(s), {len(history.overrides)} override(s)")
    width = max((len(e.event) for e in history.timeline()), default=0)
    for entry in history.timeline():
        ev, ovr, job = entry.evaluation, entry.override, entry.job
        head = f"{_ts(entry.at)}  {entry.event:<{width}}  {entry.job_id}"
        if entry.event == "evaluated" and ev is not None:
            ratio = f"{ev.income_to_rent_ratio:.2f}×" if ev.income_to_rent_ratio is not None else "—"
            out.print(f"{head}  [bold]{ev.recommendation}[/bold] {ev.score} ({ev.label})  income-to-rent {ratio}  "
                      f"policy {ev.policy_version}  model {ev.model}"
                      + (f" ({ev.model_version})" if ev.model_version else ""))
        elif entry.event == "override" and ovr is not None:
            out.print(f"{head}  [bold cyan]{ovr.recommendation}[/bold cyan] by {escape(ovr.created_by or 'a person')}: "
                      f"{escape(ovr.reason)} "
                      f"[dim]({ovr.id})[/dim]")
        elif entry.event in ("failed", "cancelled") and job is not None:
            out.print(f"{head}  {job.error_code or ''} {escape(job.error_message or '')}".rstrip())
        else:  # a request: its generation when an operator retried it, its state while it is not done
            notes = []
            if job is not None and job.generation > 1:
                notes.append(f"generation {job.generation}")
            if job is not None and job.state.active:
                notes.append(f"now {_outcome(job)}")
            out.print(head + (f"  ({', '.join(notes)})" if notes else ""))
    latest = history.latest_evaluation
    if latest is None:
        out.print("no evaluation yet")
        return
    standing = history.in_force(latest)
    line = (f"standing: {latest.recommendation} (score {latest.score}, {latest.label}) from job {latest.job_id}, "
            f"evaluated {_ts(latest.created_at)} under {latest.policy_version}")
    if standing is not None:
        line += f"; overridden by a person to [bold]{standing.recommendation}[/bold] on {_ts(standing.created_at)}"
    out.print(line)


# ---------------------------------------------------------------------------- dlq


def _redriver():
    from leadeval.adapters.queue.sqs import sqs_client_for
    from leadeval_tools.redrive import SqsRedriver

    settings = _settings()
    if not settings.dlq_url or not settings.queue_url:
        err.print("[red]LEADEVAL_DLQ_URL and LEADEVAL_QUEUE_URL must be set (see the stack's Outputs)[/red]")
        raise typer.Exit(2)
    client = sqs_client_for(settings.dlq_url)
    arn = client.get_queue_attributes(QueueUrl=settings.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return SqsRedriver(settings.dlq_url, arn, settings.queue_url, client=client)


@dlq_app.command("list")
def dlq_list(limit: Annotated[int, typer.Option(min=0, help="Most messages to show; 0 shows them all.")] = 100) -> None:
    """Show what the DLQ holds (job, site, error code, generation, age) without deleting anything: the
    messages are peeked and made visible again at once. The title gives SQS's count of the whole DLQ."""
    redriver = _redriver()
    depth = redriver.depth()
    entries = redriver.list_messages(max_messages=limit if limit > 0 else max(depth, 1) * 2 + 10)
    shown = f"{len(entries)} message(s)" + (f" shown of about {depth}" if len(entries) < depth else "")
    table = Table(title=f"Dead-letter queue: {shown}")
    for column in ("message", "job", "site", "generation", "reason", "age", "receives", "body"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.message_id, e.job_id or "", e.site_id or "", str(e.generation or ""),
                      e.reason or ("poison" if e.poison else ""), f"{e.age_seconds / 3600:.1f} h", str(e.receive_count),
                      e.body[:80] if e.poison else "")
    out.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    job: Annotated[list[str] | None, typer.Option("--job", help="Only this job's message (repeatable).")] = None,
    rate: Annotated[int | None, typer.Option(min=1, max=500,
                                             help="Messages per second for a full redrive (max 500).")] = None,
) -> None:
    """Move DLQ messages back to the jobs queue: all (an SQS message move task; on a local emulator, which
    lacks it, the same move done message by message) or only the --job ones. The worker restarts each
    redriven dead-lettered job afresh: its failed attempts are reset and it keeps its generation. Exit 1 when
    nothing was moved (no message of those jobs, or an empty DLQ)."""
    from leadeval_tools.redrive import is_local_endpoint

    redriver = _redriver()
    if job:
        moved = redriver.redrive_jobs(set(job))
        out.print(f"moved {moved} message(s) back to the jobs queue")
        if moved == 0:
            err.print(f"[red]no DLQ message names {', '.join(sorted(set(job)))} (`leadeval dlq list` shows "
                      "what it holds)[/red]")
            raise typer.Exit(1)
        return
    if is_local_endpoint(redriver.dlq_url):
        moved = redriver.emulate_move_task(max_per_second=rate)
        out.print(f"moved {moved} message(s) back to the jobs queue (local emulator: the message move task "
                  "was emulated)")
        if moved == 0:
            err.print("[red]the DLQ is empty: nothing to redrive[/red]")
            raise typer.Exit(1)
        return
    handle = redriver.redrive_all(max_per_second=rate)
    out.print(f"message move task started: {handle}")


# ---------------------------------------------------------------------------- pause / resume


def _consumption(local: bool):
    """The switch to act on: the local runtime's with --local, else the deployed worker's (exit 2 when
    LEADEVAL_WORKER_FUNCTION_NAME is not set: nothing is touched)."""
    from leadeval_tools.consumption import LambdaConsumption, LocalConsumption

    if local:
        return LocalConsumption()
    settings = _settings()
    if not settings.worker_function_name:
        err.print("[red]LEADEVAL_WORKER_FUNCTION_NAME is not set (the stack's WorkerFunctionName output): "
                  "nothing was changed. For the local runtime (make run, evaluate, process) add --local.[/red]")
        raise typer.Exit(2)
    return LambdaConsumption(settings.worker_function_name)


@app.command()
def pause(local: Annotated[bool, typer.Option(help="Pause the local runtime only.")] = False) -> None:
    """Stop the deployed worker (LEADEVAL_WORKER_FUNCTION_NAME) consuming the jobs queue: its SQS event source
    mapping is disabled; messages wait, no attempt is used. --local pauses the local runtime instead."""
    state = _consumption(local).set_enabled(False)
    out.print(f"worker consumption: {state.state} ({state.uuid})")


@app.command()
def resume(local: Annotated[bool, typer.Option(help="Resume the local runtime only.")] = False) -> None:
    """Start the deployed worker (LEADEVAL_WORKER_FUNCTION_NAME) consuming the jobs queue again; --local
    resumes the local runtime instead."""
    state = _consumption(local).set_enabled(True)
    out.print(f"worker consumption: {state.state} ({state.uuid})")


# ---------------------------------------------------------------------------- invoke


class FunctionName(StrEnum):
    """The functions of template.yaml."""

    SWEEP = "sweep"
    WORKER = "worker"


@app.command("invoke")
def invoke_function(
    function: Annotated[FunctionName, typer.Argument(help="The function: sweep or worker.")],
    event: Annotated[Path, typer.Option("--event", "-e", help="The event file (events/*.json).")],
    env_vars: Annotated[Path | None, typer.Option(
        "--env-vars", "-n", help="SAM env-vars JSON: {\"Parameters\": {...}, \"WorkerFunction\": {...}}.")] = None,
) -> None:
    """Run one function's handler (functions/NAME/app.py) with one event, as `sam local invoke` does but
    without a container: the template's environment overlaid by --env-vars (only declared variables), a Lambda
    context with the template's Timeout and MemorySize, the embedded database and the local emulators (moto
    for the queue, the DLQ and the bucket). Prints the handler's return value as JSON on stdout; logs and
    metrics go to stderr. Exit 0 when the handler returned, 1 when it raised, 2 for a bad file or a database
    that is missing, lacks the application's tables or lacks leadeval's migrations (`make run` or `leadeval db
    migrate` first)."""
    import json

    from leadeval_tools.invoke import (
        InvokeInputError,
        check_event,
        function_spec,
        invocation_environment,
        invoke,
        overlay_env_vars,
        read_json_file,
        undeclared_env_vars,
    )

    try:
        spec = function_spec(function.value)
        payload = check_event(function.value, read_json_file(event, "event file"))
        overrides = read_json_file(env_vars, "env-vars file") if env_vars else None
        environment = overlay_env_vars(spec, overrides) if overrides is not None else dict(spec.environment)
    except InvokeInputError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    dropped = undeclared_env_vars(spec, overrides) if overrides is not None else {}
    if dropped:  # SAM CLI drops them silently; say so (names only)
        listed = ", ".join(f"{name} (did you mean {close}?)" if close else name for name, close in dropped.items())
        err.print(f"[yellow]ignored (no function of template.yaml declares it):[/yellow] {escape(listed)}")
    metrics_choice = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    base = _local_env()
    base["POWERTOOLS_METRICS_DISABLED"] = metrics_choice or "false"  # one invocation: show its EMF (on stderr)
    os.environ.clear()
    os.environ.update(invocation_environment(environment, base))
    _require_database(_settings())  # a typo in the path must not create a database
    err.print(f"invoking {spec.logical_id} ({spec.handler_path.relative_to(spec.handler_path.parents[2])}) "
              f"with {event}: timeout {spec.timeout_seconds}s, memory {spec.memory_mb} MB")
    try:
        result = invoke(function.value, payload, spec, dict(os.environ))
    except (LeadevalError, typer.Exit):  # typer.Exit: the database was refused before the handler ran
        raise
    except Exception as exc:  # the handler raised: Lambda reports an error (WorkerBatchFailed, a sweep failure)
        err.print(f"[red]{spec.logical_id} failed: {type(exc).__name__}[/red]")
        raise typer.Exit(1) from exc
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------- usage


@app.command("usage")
def usage(
    site: Annotated[str, typer.Option(help="The site id.")],
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (UTC).")],
) -> None:
    """What a site's evaluations of a month cost, per model: evaluations, prompt and completion tokens, Workers
    AI neurons (estimated from the tokens at the published rate: the API reports tokens only), pages and
    worker time; beside the application's usage row (count and quota). Exit 1 for an unknown site."""
    from leadeval_tools.console import site_usage

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise typer.BadParameter("expected YYYY-MM", param_hint="--month")
    store = _store()
    _known_site_or_exit(store, site, create=False)
    rows, app_usage = site_usage(store, site, month)
    table = Table(title=f"Usage of {site} in {month}")
    for column in ("model", "evaluations", "prompt tokens", "completion tokens", "neurons (est.)", "pages",
                   "worker s", "worker ms / evaluation"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        measured = r.evaluations - r.unmeasured
        table.add_row(r.model, str(r.evaluations), f"{r.prompt_tokens:,}", f"{r.completion_tokens:,}",
                      "—" if r.neurons is None else f"{r.neurons:,.1f}", str(r.pages), f"{r.worker_ms / 1000:,.1f}",
                      f"{r.worker_ms / measured:,.0f}" if measured else "—")
    total = sum(r.evaluations for r in rows)
    if len(rows) > 1:
        neurons = [r.neurons for r in rows if r.neurons is not None]
        table.add_row("total", str(total), f"{sum(r.prompt_tokens for r in rows):,}",
                      f"{sum(r.completion_tokens for r in rows):,}", f"{sum(neurons):,.1f}" if neurons else "—",
                      str(sum(r.pages for r in rows)), f"{sum(r.worker_ms for r in rows) / 1000:,.1f}", "")
    out.print(table)
    unmeasured = sum(r.unmeasured for r in rows)
    if unmeasured:
        out.print(f"{unmeasured} evaluation(s) saved before worker time was recorded are counted without it")
    if app_usage is None:
        out.print(f"the application has no usage row for {site} in {month}")
    else:
        out.print(f"the application's usage row: {app_usage['evaluation_count']} of {app_usage['quota_limit']} "
                  f"evaluations ({total} saved by leadeval this month)")


# ---------------------------------------------------------------------------- emulators


@app.command("emulators")
def emulators(
    host: Annotated[str, typer.Option(help="Address to listen on: 0.0.0.0 lets containers reach it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the emulated AWS endpoint.")] = 5000,
    container_host: Annotated[str, typer.Option(help="How a container names this machine.")] = "host.docker.internal",
) -> None:
    """Run the local AWS emulators until Ctrl-C (moto's server): the jobs queue and its DLQ (redrive policy),
    the documents bucket loaded from the local runs' documents folder, the idempotency table. Prints the
    variables that point commands (`invoke`, `process`, `dlq list|redrive`) and `sam local invoke` containers
    at them; while it runs, what one command leaves in the queues is there for the next (rehearse a redrive)."""
    import signal

    import boto3

    from leadeval_tools.local import (
        REGION,
        create_idempotency_table,
        create_queues,
        load_bucket,
        start_moto,
    )

    _local_env()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    settings = _settings()
    server = start_moto(host, port)
    endpoint = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    try:
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        queue_url, dlq_url = create_queues(sqs)
        load_bucket(boto3.client("s3", region_name=REGION, endpoint_url=endpoint), "leadeval-documents", settings)
        create_idempotency_table(endpoint, "leadeval-idempotency")
        exports = {"AWS_ENDPOINT_URL": endpoint, "LEADEVAL_QUEUE_URL": queue_url, "LEADEVAL_DLQ_URL": dlq_url,
                   "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                   "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"], "AWS_DEFAULT_REGION": REGION}
        out.print("# this machine (another shell): the CLI and `leadeval invoke` use these emulators")
        for key, value in exports.items():
            out.print(f"export {key}={value}")
        out.print(f"# a container (`sam local invoke`): the same at {container_host}:{port} "
                  "(events/env.docker.json); the documents are in s3://leadeval-documents, the idempotency "
                  "table is leadeval-idempotency")
        out.print("# Ctrl-C stops them (everything they hold is lost)")
        sys.stdout.flush()
        stop = {"now": False}

        def _stop(*_: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stop["now"]:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    finally:
        server.stop()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LeadevalError as exc:
        err.print(f"[red]{exc.code}: {escape(exc.message)}[/red]")  # redacted (LeadevalError)
        sys.exit(2 if isinstance(exc, ConfigurationError) else 1)
    except ValidationError as exc:  # a row written by hand outside the application's shape: say where, not what
        where = "; ".join(f"{'.'.join(map(str, e['loc']))} ({e['type']})" for e in exc.errors())
        err.print(f"[red]a {exc.title} row in the database is not in the application's shape: {escape(where)}[/red]")
        sys.exit(1)

