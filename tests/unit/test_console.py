"""Operator console helpers: document ids named by file, time filters, the reset notice of `make run`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadeval.timeutil import utcnow
from leadeval_tools.cli import _reset_notice
from leadeval_tools.console import JobFilter, name_documents, parse_when


def test_document_ids_are_replaced_by_file_names_whole_words_only() -> None:
    names = {"doc_a": "paystub.pdf", "doc_a2": "bank.pdf", "doc_kj-lwpgAaSjO": "id.png"}
    text = "doc_a is edited; doc_a2 is clean; doc_kj-lwpgAaSjO unreadable; doc_abc and xdoc_a stay"
    assert name_documents(text, names) == ("paystub.pdf is edited; bank.pdf is clean; id.png unreadable; "
                                           "doc_abc and xdoc_a stay")
    assert name_documents("nothing here", {}) == "nothing here"


def test_when_values() -> None:
    assert parse_when("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_when("2026-11-30T10:00:00+02:00") == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert parse_when("2026-11-30T10:00:00") == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert abs(parse_when("6h") - (utcnow() - timedelta(hours=6))) < timedelta(seconds=5)
    assert abs(parse_when("2d") - (utcnow() - timedelta(days=2))) < timedelta(seconds=5)
    with pytest.raises(ValueError, match="duration"):
        parse_when("last tuesday")


def test_filter_in_words() -> None:
    assert JobFilter().empty and JobFilter().describe() == "every job"
    where = JobFilter(site="s1", error_code="ModelUnavailable", since=datetime(2026, 1, 2, tzinfo=UTC))
    assert not where.empty
    assert where.describe() == "site s1, error code ModelUnavailable, since 2026-01-02T00:00:00.000Z"


def test_the_reset_notice_counts_what_make_run_deletes(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert _reset_notice(db) == f"starting a fresh database at {db}"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ai_evaluation_jobs (id TEXT)")
        conn.executemany("INSERT INTO ai_evaluation_jobs VALUES (?)", [("a",), ("b",)])
        conn.execute("CREATE TABLE leadeval_overrides (id TEXT)")
        conn.execute("INSERT INTO leadeval_overrides VALUES ('o')")
    notice = _reset_notice(db)
    assert notice.startswith(f"resetting {db}: deleting everything it holds (2 jobs, 0 evaluations, 1 overrides, "
                             "0 saved policies")
    assert "make run KEEP=1" in notice


def test_the_local_runtime_uses_running_emulators_only_when_all_three_point_at_one() -> None:
    from leadeval_tools.local import running_emulators

    local = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
             "LEADEVAL_QUEUE_URL": "http://127.0.0.1:5000/123456789012/leadeval-jobs",
             "LEADEVAL_DLQ_URL": "http://127.0.0.1:5000/123456789012/leadeval-jobs-dlq"}
    assert running_emulators(local) == (local["AWS_ENDPOINT_URL"], local["LEADEVAL_QUEUE_URL"],
                                        local["LEADEVAL_DLQ_URL"])
    assert running_emulators({**local, "LEADEVAL_DLQ_URL": ""}) is None
    aws = {**local, "LEADEVAL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}
    assert running_emulators(aws) is None  # real queues: a local run never touches them
