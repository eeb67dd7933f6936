"""``leadeval``: the operator and local-run CLI.

Commands: ``demo`` (what ``make run`` runs), ``evaluate DIR``, ``db migrate``, ``jobs list|show|retry|cancel``,
``process`` (run due jobs locally), ``policy show|set`` (per-site scoring policy), ``evaluations override``,
``leads reevaluate|history`` (people stay in charge: docs/scoring.md §9–§12), ``dlq list|redrive``,
``pause``/``resume``.
Settings come from the environment (see README "Configuration"); a bad setting stops the command with
a message naming the variable.
"""

from __future__ import annotations

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
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadeval.config import Settings
from leadeval.errors import ConfigurationError, LeadevalError
from leadeval.jobs.records import EvaluationOverride
from leadeval.models import Evaluation, Job, JobStatus, Lead, LeadDocument, Usage
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


def _store():
    from leadeval.wiring import make_job_store

    settings = _settings()
    if settings.database.kind == "sqlite" and not settings.sqlite_path().exists():
        err.print(f"[red]no database at {settings.sqlite_path()}[/red] (LEADEVAL_DATABASE_URL): run `make run`, "
                  "`leadeval evaluate …` or `leadeval db migrate` first")
        raise typer.Exit(2)
    store = make_job_store(settings)
    try:
        store.migrate()
    except ConfigurationError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(2) from exc
    return store


# ---------------------------------------------------------------------------- db


@db_app.command("migrate")
def db_migrate() -> None:
    """Add leadeval's columns and tables (migrations/NNNN_*.sql) to the application's database at
    LEADEVAL_DATABASE_URL; a second run is a no-op. The application's tables must exist (`db init` creates
    them in an empty database)."""
    from leadeval.wiring import make_job_store

    store = make_job_store(_settings())
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
    keep: Annotated[bool, typer.Option(help="Keep an existing SQLite database instead of starting fresh.")] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Load the sample data into the embedded database and run the pipeline until no job is due."""
    env = _local_env()
    settings = _settings()
    if settings.database.kind != "sqlite":
        err.print("[red]demo loads sample rows; it only runs on the embedded SQLite database.[/red]")
        raise typer.Exit(2)

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
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.monotonic()
    with LocalRuntime(env, lock=lock) as runtime:
        services = runtime.services
        assert services is not None
        store = services.store
        applied = prepare_local_database(store)
        err.print(f"database {settings.database_url}: {len(applied)} migration(s) applied")
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
    from leadeval_tools.consumption import LocalConsumption

    if LocalConsumption().paused:
        err.print("[yellow]the local runtime is paused (`leadeval resume --local`): jobs will wait[/yellow]")
    try:
        runtime.run_until_idle(timeout_seconds=timeout, job_ids=job_ids)
    except TimeoutError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    except ConfigurationError as exc:
        err.print(f"[red]Configuration error, stopping:[/red] {escape(exc.message)}")
        raise typer.Exit(2) from exc


def prepare_local_database(store) -> list[str]:
    """A local run's database: the application's tables created when it is empty (embedded SQLite), then
    leadeval's migrations. Returns the migrations applied. Exits 2 with the message on a database that
    has some of the application's tables but not all."""
    try:
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
        _print_job(job, store.get_evaluation(job_id), store.list_overrides(job_id))
        if job.error_code == "ConfigurationError":
            raise typer.Exit(2)


_MIME = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
         "heic": "image/heic", "tiff": "image/tiff", "gif": "image/gif"}


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


def _ts(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if value else "—"


_VERDICT_STYLE = {"clean": "green", "edited": "bold red", "undetermined": "yellow", "unreadable": "magenta"}
_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def _print_job(job: Job, evaluation: Evaluation | None, overrides: Sequence[EvaluationOverride] = ()) -> None:
    """Print a job, and its evaluation for a person: the result (and any override of it), then each
    document with its verdict, why, and the signals found on it, findings about the whole application,
    and the reasons with their points, standards and the data used. Text from files, metadata and
    people is escaped (a file named "[bold]x.pdf" prints as is)."""
    out.print(f"[bold]{job.id}[/bold]  site {job.site_id}  lead {job.lead_id}  status [bold]{_outcome(job)}[/bold]"
              f"  failed attempts {job.retry_count}/{job.max_retries}  generation {job.generation}")
    out.print(f"requested {_ts(job.requested_at)}"
              + (f"  ended {_ts(job.completed_at)}" if job.completed_at else ""))
    if job.error_code:
        out.print(f"[red]error {job.error_code}[/red]: {escape(job.error_message or '')}"
                  + (f"  (dead-lettered {_ts(job.dead_lettered_at)})" if job.dead_lettered_at else ""))
    if evaluation is None:
        return
    ev = evaluation
    ratio = f"{ev.income_to_rent_ratio:.2f}×" if ev.income_to_rent_ratio is not None else "—"
    out.print(f"\n[bold]Score {ev.score}  Label {ev.label}  Recommendation {ev.recommendation}[/bold]")
    if overrides:
        last = overrides[-1]
        out.print(f"[bold cyan]Overridden by a person: {last.recommendation}[/bold cyan] on {_ts(last.created_at)} "
                  f"({last.id}): {escape(last.reason)}")
        if len(overrides) > 1:
            out.print(f"  {len(overrides) - 1} earlier override(s): leadeval leads history {ev.lead_id}")
    out.print(escape(ev.summary))
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
        out.print(f"  {'':<12} {escape(d.reason)}")
        for sig in d.signals:
            out.print(f"  {'':<12} [{_SEVERITY_STYLE[sig.severity]}]{sig.severity:<6}[/] {sig.code}: "
                      f"{escape(sig.evidence)}")
    application = [sig for sig in ev.flags if sig.document_id is None]
    if application:
        out.print("\n[bold]Findings about the whole application[/bold]")
        for sig in application:
            out.print(f"  [{_SEVERITY_STYLE[sig.severity]}]{sig.severity:<6}[/] {sig.code}: {escape(sig.evidence)}")
    out.print("\n[bold]Reasons[/bold]")
    for r in ev.reasons:
        pts = f" [{r.points:+d} points]" if r.points else ""
        out.print(f"  - {escape(r.text)}{escape(pts)}")
        if r.standard:
            out.print(f"      standard: {escape(r.standard)}")
        if r.data_used:
            out.print(f"      data used: {escape('; '.join(r.data_used))}")


@app.command("process")
def process_jobs(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Process the jobs that are due with the local runtime (the real sweep and worker handlers over an
    emulated queue) until none is pending, queued or processing: for example after `leads reevaluate`.
    Documents come from LEADEVAL_DOCUMENTS_URL, or (unset) the copy local runs keep beside the SQLite database."""
    from leadeval_tools.local import LocalRuntime

    env = _local_env()
    _settings()
    with LocalRuntime(env) as runtime:
        services = runtime.services
        assert services is not None
        prepare_local_database(services.store)
        runtime.recover_orphans()
        active = runtime.active_jobs()
        _run_until_idle(runtime, timeout)
        out.print(f"{active} active job(s) processed ({runtime.invocations['sweep']} sweep and "
                  f"{runtime.invocations['worker']} worker invocations)")


# ---------------------------------------------------------------------------- jobs


@jobs_app.command("list")
def jobs_list(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="Most jobs to show.")] = 50,
) -> None:
    """List jobs, newest request first, with their evaluation or error."""
    store = _store()
    _print_jobs_table(store.list_jobs(status=status, limit=limit), store)


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """Show one job: its state, error, and evaluation with documents, flags and reasons."""
    store = _store()
    job = store.get_job(job_id)
    if job is None:
        err.print(f"[red]no job {job_id}[/red]")
        raise typer.Exit(1)
    _print_job(job, store.get_evaluation(job_id), store.list_overrides(job_id))


@jobs_app.command("retry")
def jobs_retry(job_id: str) -> None:
    """Send a failed job (permanent or dead-lettered) back to pending under a new generation."""
    store = _store()
    if store.requeue(job_id, now=utcnow()):
        job = store.get_job(job_id)
        out.print(f"{job_id}: pending again (generation {job.generation if job else '?'})")
        return
    job = store.get_job(job_id)
    if job is None:
        err.print(f"[red]no job {escape(job_id)}[/red]")
        raise typer.Exit(1)
    err.print(f"[red]{job_id}: not retried ({_outcome(job)}; only failed jobs that were not cancelled)[/red]")
    raise typer.Exit(1)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job not started yet (pending, queued, retrying or snoozed): it ends failed with error code
    Cancelled, and a message still in flight for it is acked, never processed."""
    store = _store()
    if store.cancel(job_id, now=utcnow()):
        out.print(f"{job_id}: cancelled")
        return
    job = store.get_job(job_id)
    if job is None:
        err.print(f"[red]no job {escape(job_id)}[/red]")
        raise typer.Exit(1)
    err.print(f"[red]{job_id}: not cancelled ({_outcome(job)}; only jobs not started yet)[/red]")
    raise typer.Exit(1)


# ---------------------------------------------------------------------------- policy


def _policy_settings(policy_json: str) -> dict:
    import json

    data = json.loads(policy_json)
    data.pop("version", None)
    return data


@policy_app.command("show")
def policy_show(
    site: Annotated[str, typer.Argument(help="The site id.")],
    version: Annotated[int | None, typer.Option(help="This saved version instead of the latest.")] = None,
) -> None:
    """Show the policy a site's evaluations use now (or a saved VERSION), and every saved version."""
    import json

    from leadeval.screening.policy import ScoringPolicy

    store = _store()
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
) -> None:
    """Save FILE as the site's new policy version (validated first; old versions are kept, and jobs
    claimed from now on use the new one). A "version" in the file is replaced by SITE-vN."""
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
) -> None:
    """Record a person's recommendation and reason for a job's evaluation. The evaluation is kept as
    it was; the override is shown beside it (`jobs show`, `leads history`), and a later override of
    the same evaluation supersedes this one."""
    store = _store()
    evaluation = store.get_evaluation(job_id)
    if evaluation is None:
        job = store.get_job(job_id)
        err.print(f"[red]job {job_id} has no evaluation to override "
                  f"({'status ' + str(job.status) if job else 'no such job'})[/red]")
        raise typer.Exit(1)
    try:
        saved = store.add_override(job_id, recommendation=recommendation.value, reason=reason, now=utcnow())
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    if saved is None:  # the evaluation vanished between the two calls: nothing was recorded
        err.print(f"[red]job {job_id} has no evaluation to override[/red]")
        raise typer.Exit(1)
    out.print(f"job {job_id}: evaluation {evaluation.id} recommended {evaluation.recommendation} "
              f"(score {evaluation.score}, {evaluation.label}); a person decided [bold]{saved.recommendation}"
              f"[/bold] ({saved.id}, {_ts(saved.created_at)})")
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
        err.print(f"[red]no lead {lead_id}[/red]")
        raise typer.Exit(1)
    if result.status == "in_progress":
        active = result.active_job
        err.print(f"[red]lead {lead_id} already has job {active.id if active else '?'} "
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
        err.print(f"[red]no lead {lead_id}[/red]")
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
            out.print(f"{head}  [bold cyan]{ovr.recommendation}[/bold cyan] by a person: {escape(ovr.reason)} "
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
def dlq_list(limit: Annotated[int, typer.Option(help="Most messages to show.")] = 100) -> None:
    """Show what the DLQ holds (job, site, error code, generation, age) without deleting anything."""
    entries = _redriver().list_messages(max_messages=limit)
    table = Table(title=f"Dead-letter queue: {len(entries)} message(s)")
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
    rate: Annotated[int | None, typer.Option(help="Messages per second for a full redrive (max 500).")] = None,
) -> None:
    """Move DLQ messages back to the jobs queue: all (an SQS message move task) or only --job ones.
    The worker restarts each redriven job afresh (new generation, attempts reset)."""
    redriver = _redriver()
    if job:
        moved = redriver.redrive_jobs(set(job))
        out.print(f"moved {moved} message(s) back to the jobs queue")
        return
    handle = redriver.redrive_all(max_per_second=rate)
    out.print(f"message move task started: {handle}")


# ---------------------------------------------------------------------------- pause / resume


def _consumption(local: bool):
    from leadeval_tools.consumption import LambdaConsumption, LocalConsumption

    settings = _settings()
    if local or not settings.worker_function_name:
        if not local:
            err.print("[yellow]LEADEVAL_WORKER_FUNCTION_NAME is not set: this acts on the LOCAL runtime only, "
                      "not on a deployed worker[/yellow]")
        return LocalConsumption()
    return LambdaConsumption(settings.worker_function_name)


@app.command()
def pause(local: Annotated[bool, typer.Option(help="Pause the local runtime only.")] = False) -> None:
    """Stop the worker consuming the jobs queue (its SQS event source mapping is disabled; messages wait,
    no attempt is used). Without LEADEVAL_WORKER_FUNCTION_NAME, pauses the local runtime."""
    state = _consumption(local).set_enabled(False)
    out.print(f"worker consumption: {state.state} ({state.uuid})")


@app.command()
def resume(local: Annotated[bool, typer.Option(help="Resume the local runtime only.")] = False) -> None:
    """Start the worker consuming the jobs queue again."""
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
    metrics go to stderr. Exit 0 when the handler returned, 1 when it raised, 2 for a bad file."""
    import json

    from leadeval_tools.invoke import (
        InvokeInputError,
        check_event,
        function_spec,
        invocation_environment,
        invoke,
        overlay_env_vars,
        read_json_file,
    )

    try:
        spec = function_spec(function.value)
        payload = check_event(function.value, read_json_file(event, "event file"))
        environment = overlay_env_vars(spec, read_json_file(env_vars, "env-vars file")) if env_vars \
            else dict(spec.environment)
    except InvokeInputError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    metrics_choice = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    base = _local_env()
    base["POWERTOOLS_METRICS_DISABLED"] = metrics_choice or "false"  # one invocation: show its EMF (on stderr)
    os.environ.clear()
    os.environ.update(invocation_environment(environment, base))
    _settings()
    err.print(f"invoking {spec.logical_id} ({spec.handler_path.relative_to(spec.handler_path.parents[2])}) "
              f"with {event}: timeout {spec.timeout_seconds}s, memory {spec.memory_mb} MB")
    try:
        result = invoke(function.value, payload, spec, dict(os.environ))
    except LeadevalError:
        raise
    except Exception as exc:  # the handler raised: Lambda reports an error (WorkerBatchFailed, a sweep failure)
        err.print(f"[red]{spec.logical_id} failed: {type(exc).__name__}[/red]")
        raise typer.Exit(1) from exc
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LeadevalError as exc:
        err.print(f"[red]{exc.code}: {escape(exc.message)}[/red]")  # redacted (LeadevalError)
        sys.exit(2 if isinstance(exc, ConfigurationError) else 1)

