"""SqlitePersistenceLayer: the DynamoDB layer's conditional-put semantics, on SQLite."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from leadeval.adapters.idempotency import SqlitePersistenceLayer, make_persistence_layer
from leadeval.config import Settings
from leadeval.models import JobMessage


def record(key: str, *, status: str = "INPROGRESS", expiry: int | None = None,
           in_progress_ms: int | None = None) -> DataRecord:
    return DataRecord(idempotency_key=key, status=status, expiry_timestamp=expiry or int(time.time()) + 3600,
                      in_progress_expiry_timestamp=in_progress_ms, payload_hash="")


def test_put_get_update_delete(tmp_path: Path) -> None:
    layer = SqlitePersistenceLayer(tmp_path / "i.db")
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")
    layer._put_record(record("k", in_progress_ms=int(time.time() * 1000) + 60_000))
    assert layer._get_record("k").status == "INPROGRESS"
    done = record("k", status="COMPLETED")
    done.response_data = '{"outcome": "completed"}'
    layer._update_record(done)
    got = layer._get_record("k")
    assert (got.status, got.response_data) == ("COMPLETED", '{"outcome": "completed"}')
    layer._delete_record(done)
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")


@pytest.mark.parametrize(("status", "expiry_offset_s", "in_progress_offset_ms", "put_succeeds"), [
    ("COMPLETED", 3600, None, False),  # a live completed record blocks
    ("INPROGRESS", 3600, 60_000, False),  # in progress, lock held
    ("INPROGRESS", 3600, -1, True),  # in progress, the Lambda deadline passed
    ("COMPLETED", -1, None, True),  # expired
])
def test_conditional_put(tmp_path: Path, status: str, expiry_offset_s: int, in_progress_offset_ms: int | None,
                         put_succeeds: bool) -> None:
    now_ms = int(time.time() * 1000)
    existing = record("k", status=status, expiry=now_ms // 1000 + expiry_offset_s,
                      in_progress_ms=None if in_progress_offset_ms is None else now_ms + in_progress_offset_ms)
    layer = SqlitePersistenceLayer(tmp_path / "i.db")
    layer._put_record(existing)
    if existing.status == "COMPLETED":
        layer._update_record(existing)
    if put_succeeds:
        layer._put_record(record("k", in_progress_ms=int(time.time() * 1000) + 1000))
        assert layer._get_record("k").status == "INPROGRESS"
    else:
        with pytest.raises(IdempotencyItemAlreadyExistsError) as info:
            layer._put_record(record("k"))
        assert info.value.old_data_record is not None
        assert info.value.old_data_record.idempotency_key == "k"


def test_idempotent_function_runs_once_per_job_generation(tmp_path: Path) -> None:
    """Keyed on [job_id, generation]: the same pair returns the stored result; a new generation runs."""
    layer = SqlitePersistenceLayer(tmp_path / "i.db")
    config = IdempotencyConfig(event_key_jmespath="[job_id, generation]", raise_on_no_idempotency_key=True)
    calls: list[tuple[str, int]] = []

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=layer)
    def run(message: JobMessage) -> dict:
        calls.append((message.job_id, message.generation))
        return {"n": len(calls)}

    first = JobMessage(job_id="j", site_id="s", lead_id="l", generation=1)
    with pytest.warns(UserWarning, match="register_lambda_context"):
        assert run(message=first) == {"n": 1}
        assert run(message=first) == {"n": 1}
        assert run(message=first.model_copy(update={"generation": 2})) == {"n": 2}
    assert calls == [("j", 1), ("j", 2)]


def test_in_progress_duplicate_is_refused(tmp_path: Path) -> None:
    layer = SqlitePersistenceLayer(tmp_path / "i.db")
    config = IdempotencyConfig(event_key_jmespath="job_id")
    message = JobMessage(job_id="j", site_id="s", lead_id="l")

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=layer)
    def run(message: JobMessage) -> dict:
        with pytest.raises(IdempotencyAlreadyInProgressError):
            run(message=message)  # a concurrent duplicate while the first holds the lock
        return {"ok": True}

    with pytest.warns(UserWarning):
        assert run(message=message) == {"ok": True}


def test_persistence_choice(tmp_path: Path) -> None:
    assert type(make_persistence_layer(Settings.from_env({"LEADEVAL_IDEMPOTENCY_TABLE": "t"}))).__name__ == \
        "DynamoDBPersistenceLayer"
    sqlite = make_persistence_layer(Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/j.db"}))
    assert isinstance(sqlite, SqlitePersistenceLayer) and sqlite.path == f"{tmp_path}/j.db"


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_an_outcome_remembered_after_its_record_was_deleted_answers_the_next_delivery(
        tmp_path: Path, backend: str, aws_credentials: None) -> None:
    """A grouped job's record raises NotFinal (Powertools deletes its in-progress item); once its write is made,
    Wiring.remember caches the final outcome under the same key, and the next delivery is answered from it
    without running. On SQLite and on DynamoDB (moto), whose UpdateItem creates the missing item."""
    import boto3
    import moto

    from leadeval.jobs.process import JobOutcome, Outcome
    from leadeval.wiring import NotFinal, Wiring

    with moto.mock_aws():
        if backend == "dynamodb":
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            boto3.resource("dynamodb", region_name="us-east-1").create_table(
                TableName="idempotency", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
            layer: Any = DynamoDBPersistenceLayer(table_name="idempotency")
        else:
            layer = SqlitePersistenceLayer(tmp_path / "i.db")
        wiring = Wiring(Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/j.db"}),
                        idempotency_store=layer)
        config = IdempotencyConfig(event_key_jmespath="[job_id, generation]", raise_on_no_idempotency_key=True)
        runs: list[str] = []

        @idempotent_function(data_keyword_argument="message", config=config, persistence_store=layer,
                             key_prefix="leadeval.worker.process_job")
        def process_job(message: JobMessage) -> dict[str, Any]:
            runs.append(message.job_id)
            raise NotFinal(JobOutcome(Outcome.DEFERRED, message.job_id))

        message = JobMessage(job_id="j", site_id="s", lead_id="l", generation=1)
        with pytest.warns(UserWarning, match="register_lambda_context"):
            with pytest.raises(NotFinal):
                process_job(message=message)
            wiring.remember(message, JobOutcome(Outcome.COMPLETED, "j", ai_calls=2))
            assert process_job(message=message) == {"outcome": "completed", "job_id": "j", "error_code": None,
                                                    "detail": None, "ai_calls": 2}
            # a retry is not final: nothing cached, the next delivery runs
            other = message.model_copy(update={"job_id": "k"})
            with pytest.raises(NotFinal):
                process_job(message=other)
            wiring.remember(other, JobOutcome(Outcome.RETRY, "k", delay_seconds=30))
            with pytest.raises(NotFinal):
                process_job(message=other)
        assert runs == ["j", "k", "k"]
