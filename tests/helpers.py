"""Builders shared by the handler and integration tests."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadeval.config import Settings
from leadeval.models import DocumentKind, ExtractedFacts, Job, JobStatus, Lead, LeadDocument, Usage
from leadeval.timeutil import usage_month
from leadeval.wiring import Wiring
from leadeval_tools.appdb import create_application_tables

EVENTS = Path(__file__).resolve().parents[1] / "events"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("LEADEVAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The PostgreSQL server the tests create their databases on (README "Requirements": trust auth)."""


def load_event(name: str) -> dict:
    """An event file from events/ (the same files `sam local invoke -e` uses)."""
    return json.loads((EVENTS / name).read_text())


def text_pdf(lines: list[str]) -> bytes:
    """A small text PDF (fpdf2) with the given lines."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 11, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in lines:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def paystub_facts(*, net: str = "3317.50", gross: str = "5000.00", name: str = "Dana Whitfield",
                  pay_date: date = date(2026, 11, 20)) -> ExtractedFacts:
    """Facts of a clean semimonthly pay stub."""
    return ExtractedFacts(document_kind=DocumentKind.PAY_STUB, names_shown=[name], employer="Acme Logistics",
                          pay_period_start=pay_date - timedelta(days=19), pay_period_end=pay_date - timedelta(days=5),
                          pay_date=pay_date, pay_frequency="semimonthly", gross_pay=Decimal(gross),
                          net_pay=Decimal(net), total_deductions=Decimal(gross) - Decimal(net),
                          ytd_gross=Decimal(gross) * 22)


def seed_job(services: Wiring, *, job_id: str = "job_demo_001", site_id: str = "site_sunrise",
             lead_id: str = "lead_strong", documents: dict[str, bytes] | None = None, rent_cents: int = 185_000,
             requested_at: datetime = NOW, usage: tuple[int, int] | None = (10, 100),
             lead_site: str | None = None, max_retries: int = 5, name: tuple[str, str] = ("Dana", "Whitfield")) -> Job:
    """Create a lead, its documents (stored in the document store; listed in the dict's order, as the
    application lists them: newest upload first), a usage row and a pending job, as the application does."""
    store = services.store
    store.create_lead(Lead(id=lead_id, site_id=lead_site or site_id, first_name=name[0], last_name=name[1],
                           email="dana@example.com", phone="555-0100", monthly_rent=Decimal(rent_cents) / 100))
    for i, (doc_id, data) in enumerate((documents or {}).items()):
        key = f"{site_id}/{lead_id}/{doc_id}.pdf"
        services.documents.put(key, data)
        store.add_document(LeadDocument(id=doc_id, lead_id=lead_id, document_type="pay_stub", storage_key=key,
                                        uploaded_at=requested_at - timedelta(seconds=i)))
    if usage:
        store.add_usage(Usage(site_id=site_id, month=usage_month(requested_at), evaluation_count=usage[0],
                              quota_limit=usage[1]))
    job = Job(id=job_id, site_id=site_id, lead_id=lead_id, status=JobStatus.PENDING, requested_at=requested_at,
              max_retries=max_retries)
    store.create_job(job)
    return job


def make_services(tmp_path: Path, **overrides: object) -> Wiring:
    """Services on a temp SQLite database with the given port overrides."""
    settings = Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/jobs.db",
                                  "LEADEVAL_RETRY_BASE_SECONDS": "10", "LEADEVAL_RETRY_CAP_SECONDS": "60",
                                  "LEADEVAL_OCR_PAGES_PER_DOCUMENT": "0"})  # OCR: see tests/conftest.py
    services = Wiring(settings, **overrides)
    create_application_tables(services.store)
    services.store.migrate()
    return services


def leave_in_flight(store: Any, job_id: str, *, lease_until: datetime, claims: int = 1) -> None:
    """Put a job in the state a worker that died mid-job leaves it: ``processing`` (status and state), its
    canonical requested_at written, held until ``lease_until``. Raw SQL, as only a worker's claim gets there."""
    from leadeval.adapters.jobstore.sql import Statement
    from leadeval.timeutil import format_ts

    store.executor.execute_batch([Statement(
        "in_flight", "UPDATE ai_evaluation_jobs SET status = 'processing', leadeval_state = 'processing', "
        "leadeval_requested_at = COALESCE(leadeval_requested_at, requested_at), leadeval_claims = :claims, "
        "leadeval_lease_expires_at = :lease, started_at = requested_at WHERE id = :id",
        {"id": job_id, "claims": claims, "lease": format_ts(lease_until)})])


def create_postgres_database(prefix: str = "leadeval_test_") -> str:
    """Create a fresh, empty database named ``prefix`` + 12 hex digits on the server at :data:`POSTGRES_URL`;
    returns its DSN (drop it with :func:`drop_postgres_database`). Skips the calling test when psycopg is not
    installed or no server answers within 3 s."""
    psycopg = pytest.importorskip("psycopg")
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}: {exc}")
    return f"{POSTGRES_URL.rpartition('/')[0]}/{name}"


def drop_postgres_database(dsn: str) -> None:
    """Drop the database ``dsn`` names (one :func:`create_postgres_database` made), its open connections
    included; nothing when it is gone already. Raises psycopg.OperationalError when the server is unreachable."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rpartition("/")[2]}" WITH (FORCE)')


def local_database_env(db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """For a fixture to ``yield from``: ``LEADEVAL_DATABASE_URL`` names the SQLite file ``db`` and
    ``LEADEVAL_DOCUMENTS_URL`` / ``LEADEVAL_MODEL_URL`` are unset (the local runtime's defaults) while the test
    runs; yields ``db``; afterwards the whole environment is put back as it was (the commands under test set
    variables of their own)."""
    saved = dict(os.environ)
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{db}")
    for name in ("LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL"):
        monkeypatch.delenv(name, raising=False)
    yield db
    os.environ.clear()
    os.environ.update(saved)


def demo_in(work: Path) -> str:
    """Run `leadeval demo` (what `make run` runs) once in ``work`` with the embedded defaults, restoring the
    environment and the working directory afterwards. Returns its output; asserts it succeeded."""
    from typer.testing import CliRunner

    from leadeval_tools.cli import app

    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.chdir(work)
    for name in ("LEADEVAL_DATABASE_URL", "LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    try:
        result = CliRunner().invoke(app, ["demo"])
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    assert result.exit_code == 0, result.output
    return result.output


def raw_rows(store: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of one SQL statement run on the store's executor (tests reading columns no port returns)."""
    from leadeval.adapters.jobstore.sql import Statement

    return store.executor.execute_batch([Statement("raw", sql, params)])[0]
