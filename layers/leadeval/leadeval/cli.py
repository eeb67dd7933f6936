"""``leadeval``: the operator and local-run CLI.

Commands: ``demo`` (what ``make run`` runs), ``evaluate DIR``, ``db migrate``, ``jobs list|show|retry|cancel``.
Settings come from the environment (see README "Configuration"); a bad setting stops the command with
a message naming the variable.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadeval.config import Settings
from leadeval.errors import ConfigurationError, LeadevalError
from leadeval.models import Evaluation, Job, JobStatus, Lead, LeadDocument, Usage
from leadeval.timeutil import usage_month, utcnow

app = typer.Typer(help="leadeval: serverless screening-evaluation job processor.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and manage evaluation jobs.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and redrive the dead-letter queue (LEADEVAL_DLQ_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(dlq_app, name="dlq")

out = Console(stderr=False, soft_wrap=False, width=160)
err = Console(stderr=True)

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
    return dict(os.environ)


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigurationError as exc:
        err.print(f"[red]Configuration error:[/red] {exc.message}")
        raise typer.Exit(2) from exc


def _store():
    from leadeval.bootstrap import make_job_store

    store = make_job_store(_settings())
    store.migrate()
    return store


# ---------------------------------------------------------------------------- db


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (migrations/NNNN_*.sql) to LEADEVAL_DATABASE_URL; a second run is a no-op."""
    from leadeval.bootstrap import make_job_store

    store = make_job_store(_settings())
    applied = store.migrate()
    out.print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else
                                                         " (database up to date)"))


# ---------------------------------------------------------------------------- demo


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep an existing SQLite database instead of starting fresh.")] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Load the sample data into the embedded database and run the pipeline until no job is due."""
    env = _local_env()
    settings = _settings()
    if settings.database.kind == "sqlite" and not keep:
        path = settings.sqlite_path()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif settings.database.kind != "sqlite":
        err.print("[red]demo loads sample rows; it only runs on the embedded SQLite database.[/red]")
        raise typer.Exit(2)

    from leadeval.local import LocalRuntime
    from leadeval.samples import build_sample_set

    started = time.monotonic()
    sample = build_sample_set(today=utcnow().date())
    with LocalRuntime(env) as runtime:
        services = runtime.services
        assert services is not None
        store = services.store
        applied = store.migrate()
        err.print(f"database {settings.database_url}: {len(applied)} migration(s) applied")
        _load_sample(services, sample)
        err.print(f"sample data: {len(sample.sites)} sites, {len(sample.leads)} leads, "
                  f"{len(sample.documents)} documents, {len(sample.jobs)} pending jobs")
        try:
            runtime.run_until_idle(timeout_seconds=timeout)
        except TimeoutError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        except ConfigurationError as exc:
            err.print(f"[red]Configuration error, stopping:[/red] {exc.message}")
            raise typer.Exit(2) from exc
        jobs = [store.get_job(j.id) for j in sample.jobs]
        _print_jobs_table([j for j in jobs if j], store)
        counts = Counter(str(j.status) for j in jobs if j)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        out.print(f"\n{len(jobs)} jobs: {summary} in {time.monotonic() - started:.1f}s "
                  f"({runtime.invocations['sweep']} sweep and {runtime.invocations['worker']} worker invocations)")


def _load_sample(services, sample) -> None:
    store = services.store
    for storage_key, data in sample.files.items():
        services.documents.put(storage_key, data)
    for lead in sample.leads:
        store.create_lead(Lead(id=lead.id, site_id=lead.site_id, first_name=lead.first_name,
                               last_name=lead.last_name, email=lead.email, phone=lead.phone,
                               monthly_rent_cents=lead.monthly_rent_cents,
                               voucher_amount_cents=lead.voucher_amount_cents, move_in_date=lead.move_in_date))
    for doc in sample.documents:
        store.add_document(LeadDocument(id=doc.id, lead_id=doc.lead_id, site_id=doc.site_id,
                                        document_type=doc.document_type, file_name=doc.file_name,
                                        mime_type=doc.mime_type, storage_key=doc.storage_key,
                                        size_bytes=len(sample.files[doc.storage_key])))
    for usage in sample.usage:
        store.upsert_usage(Usage(site_id=usage.site_id, month=usage.month,
                                 evaluation_count=usage.evaluation_count, quota_limit=usage.quota_limit))
    for job in sample.jobs:
        store.create_job(Job(id=job.id, site_id=job.site_id, lead_id=job.lead_id, status=JobStatus.PENDING,
                             requested_at=job.requested_at, max_attempts=services.settings.max_attempts))


def _print_jobs_table(jobs: list[Job], store) -> None:
    table = Table(title="Evaluation jobs")
    for column in ("job", "site", "lead", "status", "score", "label", "recommendation", "error code"):
        table.add_column(column)
    for job in jobs:
        ev = store.get_evaluation(job.id) if job.status == JobStatus.COMPLETED else None
        table.add_row(job.id, job.site_id, job.lead_id, str(job.status), str(ev.score) if ev else "",
                      ev.label if ev else "", ev.recommendation if ev else "", job.error_code or "")
    out.print(table)


# ---------------------------------------------------------------------------- evaluate


@app.command()
def evaluate(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of the applicant's documents.")],
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

    from leadeval.local import LocalRuntime
    from leadeval.services.documents import sniff_type

    env = _local_env()
    _settings()
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        err.print(f"[red]{directory} holds no files[/red]")
        raise typer.Exit(2)
    now = utcnow()
    lead_id, job_id = f"lead_{nanoid(size=12)}", f"job_{nanoid(size=12)}"
    with LocalRuntime(env) as runtime:
        services = runtime.services
        assert services is not None
        store = services.store
        store.migrate()
        store.create_lead(Lead(id=lead_id, site_id=site, first_name=first_name, last_name=last_name,
                               monthly_rent_cents=round(monthly_rent * 100),
                               voucher_amount_cents=round(voucher_amount * 100),
                               move_in_date=date.fromisoformat(move_in) if move_in else None))
        for i, path in enumerate(files, 1):
            data = path.read_bytes()
            kind = sniff_type(data)
            key = f"{site}/{lead_id}/{i:02d}-{path.name}"
            services.documents.put(key, data, content_type=_MIME.get(kind))
            store.add_document(LeadDocument(id=f"doc_{nanoid(size=12)}", lead_id=lead_id, site_id=site,
                                            document_type="other", file_name=path.name,
                                            mime_type=_MIME.get(kind), storage_key=key, size_bytes=len(data),
                                            uploaded_at=now))
        month = usage_month(now)
        store.upsert_usage(Usage(site_id=site, month=month, evaluation_count=1, quota_limit=1_000_000))
        store.create_job(Job(id=job_id, site_id=site, lead_id=lead_id, status=JobStatus.PENDING,
                             requested_at=now, max_attempts=services.settings.max_attempts))
        try:
            runtime.run_until_idle(timeout_seconds=timeout)
        except TimeoutError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        except ConfigurationError as exc:
            err.print(f"[red]Configuration error, stopping:[/red] {exc.message}")
            raise typer.Exit(2) from exc
        job = store.get_job(job_id)
        assert job is not None
        _print_job(job, store.get_evaluation(job_id))
        if job.error_code == "ConfigurationError":
            raise typer.Exit(2)


_MIME = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
         "heic": "image/heic", "tiff": "image/tiff", "gif": "image/gif"}


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


def _print_job(job: Job, evaluation: Evaluation | None) -> None:
    out.print(f"[bold]{job.id}[/bold]  site {job.site_id}  lead {job.lead_id}  status [bold]{job.status}[/bold]"
              f"  attempts {job.attempts}/{job.max_attempts}  generation {job.generation}")
    out.print(f"requested {job.requested_at:%Y-%m-%d %H:%M:%S}Z"
              + (f"  completed {job.completed_at:%Y-%m-%d %H:%M:%S}Z" if job.completed_at else ""))
    if job.error_code:
        out.print(f"[red]error {job.error_code}[/red]: {job.error_message or ''}"
                  + (f"  (dead-lettered {job.dead_lettered_at:%Y-%m-%d %H:%M:%S}Z)" if job.dead_lettered_at else ""))
    if evaluation is None:
        return
    ev = evaluation
    ratio = f"{ev.income_to_rent_ratio:.2f}×" if ev.income_to_rent_ratio is not None else "—"
    out.print(f"\n[bold]Score {ev.score}  Label {ev.label}  Recommendation {ev.recommendation}[/bold]")
    out.print(f"{ev.summary}")
    out.print(f"monthly income {_money(ev.monthly_income_cents)}  income-to-rent {ratio}  policy "
              f"{ev.policy_version}  model {ev.model}" + (f" ({ev.model_version})" if ev.model_version else ""))
    docs = Table(title="Documents")
    for column in ("document", "file", "type", "kind", "verdict", "reason", "signals"):
        docs.add_column(column, overflow="fold")
    for d in ev.documents:
        docs.add_row(d.document_id, d.file_name, d.detected_type or "", str(d.kind or ""), str(d.verdict),
                     d.reason, "; ".join(f"{s.code} ({s.severity}): {s.evidence}" for s in d.signals))
    out.print(docs)
    if ev.flags:
        out.print("[bold]Flags[/bold]")
        for s in ev.flags:
            out.print(f"  - {s.code} ({s.severity}){' on ' + s.document_id if s.document_id else ''}: {s.evidence}")
    out.print("[bold]Reasons[/bold]")
    for r in ev.reasons:
        pts = f" [{r.points:+d}]" if r.points else ""
        out.print(f"  - {r.text}{pts}")
        if r.standard:
            out.print(f"      standard: {r.standard}")
        if r.data_used:
            out.print(f"      data used: {', '.join(r.data_used)}")


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
    _print_job(job, store.get_evaluation(job_id))


@jobs_app.command("retry")
def jobs_retry(job_id: str) -> None:
    """Send a failed job (permanent or dead-lettered) back to pending under a new generation."""
    store = _store()
    if store.requeue(job_id, now=utcnow()):
        job = store.get_job(job_id)
        out.print(f"{job_id}: pending again (generation {job.generation if job else '?'})")
        return
    job = store.get_job(job_id)
    err.print(f"[red]{job_id}: not retried (status {job.status if job else 'unknown'}; only failed jobs)[/red]")
    raise typer.Exit(1)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a pending or queued job; an in-flight message for it is acked, never processed."""
    store = _store()
    if store.cancel(job_id, now=utcnow()):
        out.print(f"{job_id}: cancelled")
        return
    job = store.get_job(job_id)
    err.print(f"[red]{job_id}: not cancelled (status {job.status if job else 'unknown'}; "
              "only pending or queued jobs)[/red]")
    raise typer.Exit(1)


# ---------------------------------------------------------------------------- dlq


def _redriver():
    from leadeval.adapters.queue.redrive import SqsRedriver
    from leadeval.adapters.queue.sqs import sqs_client_for

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
    from leadeval.adapters.queue.consumer import LambdaConsumption, LocalConsumption

    settings = _settings()
    if local or not settings.worker_function_name:
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LeadevalError as exc:
        err.print(f"[red]{exc.code}: {exc.message}[/red]")
        sys.exit(2 if isinstance(exc, ConfigurationError) else 1)

