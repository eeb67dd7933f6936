"""Unit tests of the D1 REST adapter (``adapters/jobstore/d1.py``) and its fake (``testing_d1.FakeD1``):
parameter conversion, D1's limits checked before sending, the error mapping, the request budget, and
the fake's own contract (transactions refused, atomic batches, envelope shape)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadeval.adapters.jobstore.d1 import (
    D1Executor,
    D1JobStore,
    build_query,
    classify_d1_error,
    convert_named_params,
    error_info,
)
from leadeval.adapters.jobstore.sql import Statement, load_queries
from leadeval.errors import (
    ConfigurationError,
    LeadevalError,
    ProcessingError,
    StoreUnavailableError,
    ThrottledError,
)
from leadeval.jobs.records import PriorSubmission
from leadeval.models import Evaluation, Job, JobMessage, JobStatus, Lead, LeadDocument, Usage
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.fakes.d1 import RATE_LIMIT_MESSAGE, TRANSACTION_MESSAGE, FakeD1

BASE = "https://d1.test/client/v4"
URL = f"{BASE}/accounts/acct/d1/database/db/query"
NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(name="fake")
def _fake(tmp_path: Path) -> FakeD1:
    return FakeD1(tmp_path / "d1.db", account_id="acct", database_id="db", api_token="token")


def executor_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> D1Executor:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    options: dict[str, Any] = {
        "account_id": "acct",
        "database_id": "db",
        "api_token": "token",
        "base_url": BASE,
        "client": client,
        "clock": lambda: NOW,
    }
    options.update(kwargs)
    return D1Executor(**options)


def store_for(fake: FakeD1, **kwargs: Any) -> D1JobStore:
    client = httpx.Client(transport=httpx.MockTransport(fake))
    options: dict[str, Any] = {
        "account_id": "acct",
        "database_id": "db",
        "api_token": "token",
        "base_url": BASE,
        "client": client,
    }
    options.update(kwargs)
    return D1JobStore(**options)


@pytest.fixture(name="store")
def _store(fake: FakeD1) -> D1JobStore:
    store = store_for(fake)
    create_application_tables(store)
    store.migrate()
    return store


def post(
    fake: FakeD1, body: Any, *, token: str = "token", url: str = URL, method: str = "POST"
) -> httpx.Response:
    """A raw request to the fake, as any D1 client would send it."""
    client = httpx.Client(transport=httpx.MockTransport(fake))
    return client.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"})


def stmt(sql: str, name: str = "q", **params: Any) -> Statement:
    return Statement(name, sql, params)


def seed_jobs(store: D1JobStore, count: int) -> list[Job]:
    store.create_lead(
        Lead(id="lead-1", site_id="s1", first_name="Ada", last_name="L", monthly_rent=1000)
    )
    store.add_document(
        LeadDocument(
            id="d1",
            lead_id="lead-1",
            site_id="s1",
            storage_key="k/d1.pdf",
            uploaded_at=NOW - timedelta(hours=1),
        )
    )
    store.add_usage(Usage(site_id="s1", month="2026-02", evaluation_count=1, quota_limit=10))
    jobs = []
    for i in range(count):
        job = Job(
            id=f"job-{i:02d}",
            site_id="s1",
            lead_id="lead-1",
            status=JobStatus.PENDING,
            requested_at=NOW - timedelta(minutes=count - i),
        )
        store.create_job(job)
        jobs.append(job)
    return jobs


# --------------------------------------------------------------------------- parameter conversion


class TestConvertNamedParams:
    @pytest.mark.parametrize(
        ("sql", "converted", "names"),
        [
            ("SELECT :a, :b, :a", "SELECT ?1, ?2, ?1", ("a", "b")),
            ("x = ':a' AND y = :b", "x = ':a' AND y = ?1", ("b",)),
            ("SELECT 'it''s :x', :y", "SELECT 'it''s :x', ?1", ("y",)),
            ("SELECT :a::text, x::int", "SELECT ?1::text, x::int", ("a",)),
            ("-- head :z\nSELECT :a -- :b\n, /* :c */ :d", "SELECT ?1 \n,   ?2", ("a", "d")),
            ("SELECT/**/:a", "SELECT ?1", ("a",)),
            ('SELECT "c:x", `y:z`, [w:v], :p', 'SELECT "c:x", `y:z`, [w:v], ?1', ("p",)),
            ("strftime('%Y-%m', :ts) = :month", "strftime('%Y-%m', ?1) = ?2", ("ts", "month")),
            ("WHERE id = :job_id2 AND g = :_g", "WHERE id = ?1 AND g = ?2", ("job_id2", "_g")),
            ("SELECT 1", "SELECT 1", ()),
        ],
    )
    def test_named_params_become_ordered_placeholders(self, sql: str, converted: str, names: tuple) -> None:
        """Each distinct :name gets ?N in order of first use; literals, identifiers, comments, :: stay."""
        result = convert_named_params(sql)
        assert (result.sql, result.names) == (converted, names)

    @pytest.mark.parametrize("name", sorted(load_queries("sqlite")))
    def test_every_shared_query_converts_completely(self, name: str) -> None:
        """Every query of sqlite.sql converts to placeholders only (converting again finds no names),
        one statement each, no transaction keyword, within D1's limits."""
        result = convert_named_params(load_queries("sqlite")[name])
        assert convert_named_params(result.sql).names == ()
        assert (result.extra_statements, result.positional) == (False, False)
        assert result.first_keyword in {"SELECT", "UPDATE", "INSERT", "CREATE", "WITH", "DELETE"}
        assert len(result.names) <= 100 and result.size_bytes <= 100_000


class TestBuildQuery:
    def test_values_are_sent_as_json_types(self) -> None:
        """bool → 0/1, None → null, numbers as numbers, strings as strings, datetimes as ISO Z text."""
        query = build_query(
            stmt(
                "SELECT :t, :f, :n, :i, :x, :s, :d",
                t=True,
                f=False,
                n=None,
                i=42,
                x=2.5,
                s="abc",
                d=datetime(2026, 1, 31, 23, 59, 59, 123000, tzinfo=UTC),
            )
        )
        assert query == {
            "sql": "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7",
            "params": [1, 0, None, 42, 2.5, "abc", "2026-01-31T23:59:59.123Z"],
        }

    def test_unused_params_are_not_sent(self) -> None:
        """Only the parameters the SQL names are bound, in placeholder order."""
        assert build_query(stmt("SELECT :b, :a", a=1, b=2, c=3)) == {"sql": "SELECT ?1, ?2", "params": [2, 1]}

    @pytest.mark.parametrize(
        ("sql", "params", "fragment"),
        [
            ("SELECT :a", {}, "misses parameter :a"),
            ("SELECT :a", {"a": b"bytes"}, "unsupported type bytes"),
            ("SELECT :a", {"a": Decimal("1.5")}, "unsupported type Decimal"),
            ("SELECT :a", {"a": float("nan")}, "not a finite number"),
            ("BEGIN TRANSACTION", {}, "transaction statements (BEGIN)"),
            ("  -- why\nCOMMIT", {}, "transaction statements (COMMIT)"),
            ("savepoint s1", {}, "transaction statements (SAVEPOINT)"),
            ("ROLLBACK", {}, "transaction statements (ROLLBACK)"),
            ("END TRANSACTION", {}, "transaction statements (END)"),
            ("SELECT 1; SELECT 2", {}, "several statements"),
            ("SELECT 1; 2", {}, "several statements"),
            ("SELECT * FROM t WHERE id = ?", {}, "?/?NNN placeholders"),
        ],
    )
    def test_bugs_in_our_sql_are_processing_errors(self, sql: str, params: dict, fragment: str) -> None:
        """What D1 would reject (or we could not bind) fails before sending, naming the statement."""
        with pytest.raises(ProcessingError) as caught:
            build_query(Statement("my_query", sql, params))
        assert fragment in caught.value.message
        assert "my_query" in caught.value.message

    def test_trailing_semicolon_and_comment_are_one_statement(self) -> None:
        """A trailing ';' (and a comment after it) is still one statement; the comment is not sent."""
        assert build_query(stmt("SELECT 1; -- done"))["sql"] == "SELECT 1;"


# --------------------------------------------------------------------------- limits


class TestLimits:
    def test_too_many_params_fail_before_sending(self, fake: FakeD1) -> None:
        """101 bound parameters: ProcessingError naming the statement, and no request is made."""
        sql = "SELECT " + ", ".join(f":p{i}" for i in range(101))
        executor = executor_for(fake)
        with pytest.raises(ProcessingError, match="wide_select binds 101 parameters; D1 allows 100"):
            executor.execute_batch([Statement("wide_select", sql, {f"p{i}": i for i in range(101)})])
        assert (executor.requests, fake.requests) == (0, [])

    def test_one_hundred_params_are_fine(self, fake: FakeD1) -> None:
        """Exactly 100 parameters go through, and the fake (like D1) accepts them."""
        sql = "SELECT " + " + ".join(f":p{i}" for i in range(100)) + " AS total"
        rows = executor_for(fake).execute_batch([Statement("sum", sql, {f"p{i}": i for i in range(100)})])
        assert rows == [[{"total": 4950}]]

    @pytest.mark.parametrize(("size", "accepted"), [(100_000, True), (100_001, False)])
    def test_statement_length_limit(self, fake: FakeD1, size: int, accepted: bool) -> None:
        """A statement of 100,000 bytes is sent; one byte more fails before sending."""
        head, tail = "SELECT '", "' AS v"
        sql = (
            head
            + "é" * ((size - len(head) - len(tail)) // 2)
            + "x" * ((size - len(head) - len(tail)) % 2)
            + tail
        )
        assert len(sql.encode("utf-8")) == size
        executor = executor_for(fake)
        if accepted:
            assert len(executor.execute_batch([Statement("long", sql)])[0][0]["v"]) > 49_000
            assert executor.requests == 1
        else:
            with pytest.raises(ProcessingError, match="long is 100001 bytes long"):
                executor.execute_batch([Statement("long", sql)])
            assert (executor.requests, fake.requests) == (0, [])

    def test_large_batch_body_is_fine(self, fake: FakeD1) -> None:
        """The limits are per statement: three 90 KB statements go in one request."""
        sql = "SELECT '" + "x" * 90_000 + "' AS v"
        executor = executor_for(fake)
        rows = executor.execute_batch([Statement(f"s{i}", sql) for i in range(3)])
        assert [len(r[0]["v"]) for r in rows] == [90_000] * 3
        assert executor.requests == 1 and len(fake.requests[0]["batch"]) == 3

    def test_value_over_two_megabytes_fails_before_sending(self, fake: FakeD1) -> None:
        """A string parameter over D1's 2,000,000-byte value limit is refused before sending."""
        executor = executor_for(fake)
        with pytest.raises(ProcessingError, match="parameter v of big is over 2000000 bytes"):
            executor.execute_batch([stmt("SELECT :v", "big", v="x" * 2_000_001)])
        assert fake.requests == []


# --------------------------------------------------------------------------- error mapping


def answer(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def cf_error(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "result": None,
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        **extra,
    }


def raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


TWO = [stmt("SELECT 1", "first_query"), stmt("SELECT 2", "second_query")]

ERROR_TABLE: list[
    tuple[str, Callable[[httpx.Request], httpx.Response], type[LeadevalError], dict[str, Any]]
] = [
    (
        "429 retry-after 7",
        answer(
            429, cf_error(971, "Please wait and consider throttling your request speed"), {"retry-after": "7"}
        ),
        ThrottledError,
        {"retry_after": 7.0},
    ),
    (
        "429 retry-after 0 floors at 1 s",
        answer(429, cf_error(971, "slow down"), {"retry-after": "0"}),
        ThrottledError,
        {"retry_after": 1.0},
    ),
    (
        "global 5-minute block",
        answer(429, cf_error(971, RATE_LIMIT_MESSAGE)),
        ThrottledError,
        {"retry_after": 300.0},
    ),
    ("429 without body or header", answer(429, "Too Many Requests"), ThrottledError, {"retry_after": 300.0}),
    (
        "daily limit until 00:00 UTC",
        answer(
            429,
            cf_error(
                7429, "Your account has exceeded D1's daily limits; your daily limits have been exceeded"
            ),
        ),
        ThrottledError,
        {"retry_after": 12 * 3600.0},
    ),
    (
        "500 7500 network lost",
        answer(500, cf_error(7500, "Network connection lost.")),
        StoreUnavailableError,
        {},
    ),
    (
        "500 7500 internal error",
        answer(500, cf_error(7500, "internal error; reference = 8fz1")),
        StoreUnavailableError,
        {},
    ),
    (
        "400 7500 overloaded is transient",
        answer(400, cf_error(7500, "D1 DB is overloaded. Requests queued for too long.")),
        StoreUnavailableError,
        {},
    ),
    (
        "7500 object reset",
        answer(500, cf_error(7500, "Internal error in D1 DB storage caused object to be reset.")),
        StoreUnavailableError,
        {},
    ),
    ("502 html", answer(502, "<html>Bad gateway</html>"), StoreUnavailableError, {}),
    ("408", answer(408, "timeout"), StoreUnavailableError, {}),
    (
        "400 7500 syntax error names the batch",
        answer(400, cf_error(7500, 'near "SELEC": syntax error: SQLITE_ERROR')),
        ProcessingError,
        {
            "message": 'D1 SQL error in batch [first_query, second_query]: near "SELEC": syntax error: '
            "SQLITE_ERROR"
        },
    ),
    (
        "400 7500 names the failing statement",
        answer(
            400,
            cf_error(
                7500,
                "no such table: nope: SQLITE_ERROR",
                result=[{"success": True, "results": []}, {"success": False, "results": []}],
            ),
        ),
        ProcessingError,
        {"message": "D1 SQL error in second_query: no such table: nope: SQLITE_ERROR"},
    ),
    ("400 7400 malformed", answer(400, cf_error(7400, "The request is malformed")), ProcessingError, {}),
    (
        "401 10000",
        answer(401, cf_error(10000, "Authentication error")),
        ConfigurationError,
        {"variable": "CLOUDFLARE_API_TOKEN"},
    ),
    (
        "403 10000",
        answer(403, cf_error(10000, "Authentication error")),
        ConfigurationError,
        {"variable": "CLOUDFLARE_API_TOKEN"},
    ),
    (
        "200 with code 10000",
        answer(200, cf_error(10000, "Authentication error")),
        ConfigurationError,
        {"variable": "CLOUDFLARE_API_TOKEN"},
    ),
    (
        "404 7003",
        answer(404, cf_error(7003, "No route for the URI")),
        ConfigurationError,
        {"variable": "LEADEVAL_DATABASE_URL"},
    ),
    ("200 not JSON", answer(200, "<html>proxy</html>"), StoreUnavailableError, {}),
    (
        "200 success false, no code",
        answer(200, {"result": None, "success": False, "errors": []}),
        StoreUnavailableError,
        {},
    ),
    (
        "200 with too few results",
        answer(
            200, {"result": [{"results": [], "success": True}], "success": True, "errors": [], "messages": []}
        ),
        StoreUnavailableError,
        {},
    ),
    ("ConnectTimeout", raising(httpx.ConnectTimeout("slow")), StoreUnavailableError, {}),
    ("ReadTimeout", raising(httpx.ReadTimeout("slow")), StoreUnavailableError, {}),
    ("ConnectError", raising(httpx.ConnectError("refused")), StoreUnavailableError, {}),
    ("RemoteProtocolError", raising(httpx.RemoteProtocolError("cut")), StoreUnavailableError, {}),
    (
        "UnsupportedProtocol",
        raising(httpx.UnsupportedProtocol("ftp")),
        ConfigurationError,
        {"variable": "LEADEVAL_CLOUDFLARE_API_URL"},
    ),
]


class TestErrorMapping:
    @pytest.mark.parametrize(
        ("case", "handler", "error", "attrs"), ERROR_TABLE, ids=[c[0] for c in ERROR_TABLE]
    )
    def test_answers_map_to_leadeval_errors(
        self, case: str, handler: Callable, error: type[LeadevalError], attrs: dict[str, Any]
    ) -> None:
        """Each D1 answer or transport failure raises exactly the documented leadeval error."""
        executor = executor_for(handler, clock=lambda: NOW)
        with pytest.raises(LeadevalError) as caught:
            executor.execute_batch(TWO)
        assert type(caught.value) is error
        for name, value in attrs.items():
            assert getattr(caught.value, name) == value
        if isinstance(caught.value, ConfigurationError):
            assert caught.value.variable in caught.value.message
        assert executor.requests == 1

    def test_token_variable_is_named(self) -> None:
        """A separate D1 token's variable is the one named in the credential error."""
        executor = executor_for(
            answer(401, cf_error(10000, "Authentication error")), token_variable="CLOUDFLARE_D1_API_TOKEN"
        )
        with pytest.raises(ConfigurationError, match="check CLOUDFLARE_D1_API_TOKEN") as caught:
            executor.execute_batch(TWO)
        assert caught.value.variable == "CLOUDFLARE_D1_API_TOKEN"

    def test_classifier_is_decided_by_status_before_message(self) -> None:
        """A 429 whose text looks like an SQL error is still throttling; a 4xx 7500 SQL error that
        mentions no transient fragment is a ProcessingError whatever the wording."""
        throttled = classify_d1_error(429, error_info(cf_error(7500, "syntax error")), retry_after="3")
        assert isinstance(throttled, ThrottledError) and throttled.retry_after == 3.0
        sql = classify_d1_error(
            400,
            error_info(cf_error(7500, "UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT")),
            statement_names=["insert_thing"],
        )
        assert isinstance(sql, ProcessingError)
        assert (
            sql.message == "D1 SQL error in insert_thing: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"
        )


class TestErrorMappingThroughTheFake:
    def test_429_with_retry_after_then_recovery(self, fake: FakeD1) -> None:
        """fail_next(429, retry_after=7) → ThrottledError(7); the next request succeeds."""
        fake.fail_next(status=429, retry_after=7)
        executor = executor_for(fake)
        with pytest.raises(ThrottledError) as caught:
            executor.execute_batch([stmt("SELECT 1 AS one")])
        assert caught.value.retry_after == 7.0
        assert executor.execute_batch([stmt("SELECT 1 AS one")]) == [[{"one": 1}]]
        assert executor.requests == 2 and len(fake.requests) == 2

    def test_transient_7500(self, fake: FakeD1) -> None:
        """A 500 'Network connection lost.' is a StoreUnavailableError (retryable)."""
        fake.fail_next(status=500, code=7500, message="Network connection lost.")
        with pytest.raises(StoreUnavailableError, match="Network connection lost"):
            executor_for(fake).execute_batch([stmt("SELECT 1")])

    def test_rate_limit_block_lasts_until_unblocked(self, fake: FakeD1) -> None:
        """The five-minute block answers every request 429 without retry-after → 300 s each time."""
        fake.block_for_rate_limit()
        executor = executor_for(fake)
        for _ in range(2):
            with pytest.raises(ThrottledError) as caught:
                executor.execute_batch([stmt("SELECT 1")])
            assert caught.value.retry_after == 300.0
        fake.unblock()
        assert executor.execute_batch([stmt("SELECT 1 AS one")]) == [[{"one": 1}]]

    @pytest.mark.parametrize(
        ("kwargs", "variable"),
        [
            ({"api_token": "wrong"}, "CLOUDFLARE_API_TOKEN"),
            ({"database_id": "other"}, "LEADEVAL_DATABASE_URL"),
            ({"account_id": "other"}, "LEADEVAL_DATABASE_URL"),
        ],
    )
    def test_bad_credentials_or_ids_are_configuration_errors(
        self, fake: FakeD1, kwargs: dict, variable: str
    ) -> None:
        """A refused token or an unknown account/database names the variable to fix."""
        with pytest.raises(ConfigurationError) as caught:
            executor_for(fake, **kwargs).execute_batch([stmt("SELECT 1")])
        assert caught.value.variable == variable and variable in caught.value.message

    def test_sql_error_names_the_statement_and_rolls_the_batch_back(self, fake: FakeD1) -> None:
        """A syntax error in the second statement: ProcessingError naming the batch, and the first
        statement's write is rolled back (a batch is atomic)."""
        executor = executor_for(fake)
        executor.execute_batch([stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "create")])
        with pytest.raises(ProcessingError) as caught:
            executor.execute_batch(
                [stmt("INSERT INTO t (v) VALUES (:v)", "insert_t", v="x"), stmt("SELEC 1", "broken")]
            )
        assert caught.value.message == (
            'D1 SQL error in batch [insert_t, broken]: near "SELEC": syntax error: SQLITE_ERROR'
        )
        assert executor.execute_batch([stmt("SELECT COUNT(*) AS n FROM t")]) == [[{"n": 0}]]

    def test_single_statement_error_names_it(self, fake: FakeD1) -> None:
        """With one statement the SQL error names that statement and carries SQLite's message."""
        with pytest.raises(
            ProcessingError, match=r"^D1 SQL error in lookup: no such table: nope: SQLITE_ERROR$"
        ):
            executor_for(fake).execute_batch([stmt("SELECT * FROM nope", "lookup")])


# --------------------------------------------------------------------------- request budget


class TestRequestBudget:
    def test_a_job_life_is_four_requests(self, store: D1JobStore, fake: FakeD1) -> None:
        """sweep (1) + claim (1) + prior_submissions (1) + complete (1) = 4 requests in all."""
        (job,) = seed_jobs(store, 1)
        before, fake_before = store.requests, len(fake.requests)

        (queued,) = store.sweep(now=NOW, limit=10, lease_seconds=300, rescue_after_seconds=900).claimed
        result = store.claim(JobMessage.for_job(queued), now=NOW, lease_seconds=300)
        assert result.status == "claimed" and [d.id for d in result.documents] == ["d1"]
        assert store.prior_submissions(["aa" * 32, "bb" * 32]) == []
        evaluation = Evaluation(
            id="ev-1",
            job_id=job.id,
            lead_id="lead-1",
            site_id="s1",
            score=80,
            label="A",
            recommendation="approve",
            summary="ok",
        )
        assert store.complete(
            result.job,
            evaluation,
            now=NOW,
            fingerprints=[PriorSubmission("aa" * 32, "cc" * 32), PriorSubmission("bb" * 32, "cc" * 32)],
        )

        assert store.requests - before == 4
        assert len(fake.requests) - fake_before == 4
        assert all(set(body) == {"batch"} for body in fake.requests[fake_before:])

    @pytest.mark.parametrize("outcome", ["retry_later", "fail"])
    def test_retry_later_and_fail_are_one_request(self, store: D1JobStore, outcome: str) -> None:
        """Either error path of the worker writes in one request."""
        (job,) = seed_jobs(store, 1)
        held = store.claim(JobMessage.for_job(job), now=NOW, lease_seconds=300).job
        before = store.requests
        if outcome == "retry_later":
            assert store.retry_later(held, now=NOW, delay_seconds=30, error_code="E", error_message="m")
        else:
            assert store.fail(held, now=NOW, error_code="E", error_message="m", dead_lettered=True)
        assert store.requests - before == 1

    def test_a_sweep_of_25_jobs_is_one_request(self, store: D1JobStore, fake: FakeD1) -> None:
        """The sweep's admission, rescue and claim run as one batch whatever the number of jobs."""
        seed_jobs(store, 25)
        before = store.requests

        outcome = store.sweep(now=NOW, limit=1000, lease_seconds=300, rescue_after_seconds=900)

        assert len(outcome.claimed) == 25
        assert [j.id for j in outcome.claimed] == [f"job-{i:02d}" for i in range(25)]
        assert store.requests - before == 1
        assert [q["sql"].split()[0] for q in fake.requests[-1]["batch"]] == ["UPDATE"] * 6

    def test_no_hashes_no_request(self, store: D1JobStore) -> None:
        """prior_submissions of nothing does not call D1."""
        before = store.requests
        assert store.prior_submissions([]) == []
        assert store.requests == before


# --------------------------------------------------------------------------- the adapter's wire format


class TestWireFormat:
    def test_request_shape(self, tmp_path: Path) -> None:
        """One POST to …/accounts/{account}/d1/database/{db}/query with a Bearer token and a batch body
        of {sql, params} with ordered placeholders."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(
                200,
                json={
                    "result": [
                        {
                            "results": [{"id": "job-1"}],
                            "success": True,
                            "meta": {"rows_read": 3, "rows_written": 1},
                        }
                    ],
                    "success": True,
                    "errors": [],
                    "messages": [],
                },
            )

        executor = executor_for(handler)
        rows = executor.execute_batch(
            [stmt("UPDATE j SET a = :a WHERE id = :id AND b = :a RETURNING id", a=1, id="job-1")]
        )

        assert rows == [[{"id": "job-1"}]]
        (request,) = seen
        assert (request.method, str(request.url)) == ("POST", URL)
        assert request.headers["authorization"] == "Bearer token"
        assert json.loads(request.content) == {
            "batch": [
                {"sql": "UPDATE j SET a = ?1 WHERE id = ?2 AND b = ?1 RETURNING id", "params": [1, "job-1"]}
            ]
        }
        assert (executor.rows_read, executor.rows_written) == (3, 1)

    def test_client_built_lazily_and_closed_only_when_owned(self, fake: FakeD1) -> None:
        """No client exists before the first request; close() leaves an injected client open."""
        owned = D1JobStore(account_id="a", database_id="d", api_token="t")
        assert owned.d1._client is None
        owned.close()
        client = httpx.Client(transport=httpx.MockTransport(fake))
        injected = store_for(fake, client=client)
        injected.close()
        assert client.is_closed is False

    @pytest.mark.parametrize(
        ("kwargs", "variable"),
        [
            ({"api_token": " "}, "CLOUDFLARE_API_TOKEN"),
            ({"account_id": ""}, "CLOUDFLARE_ACCOUNT_ID"),
            ({"database_id": ""}, "LEADEVAL_DATABASE_URL"),
        ],
    )
    def test_empty_settings_fail_at_construction(self, kwargs: dict, variable: str) -> None:
        """An empty id or token is a ConfigurationError naming its variable."""
        options = {"account_id": "a", "database_id": "d", "api_token": "t", **kwargs}
        with pytest.raises(ConfigurationError) as caught:
            D1JobStore(**options)
        assert caught.value.variable == variable

    def test_migration_transaction_lines_are_dropped(self, fake: FakeD1, tmp_path: Path) -> None:
        """A wrangler-style migration wrapped in BEGIN/COMMIT applies: the batch is the transaction."""
        (tmp_path / "migrations").mkdir()
        (tmp_path / "migrations" / "0001_t.sql").write_text(
            "BEGIN TRANSACTION;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\nCOMMIT;\n", "utf-8"
        )
        store = store_for(fake, migrations_dir=tmp_path / "migrations")
        assert create_application_tables(store) is True
        assert store.migrate() == ["0001_t.sql"]
        assert store.executor.execute_batch([stmt("SELECT COUNT(*) AS n FROM t")]) == [[{"n": 0}]]


# --------------------------------------------------------------------------- the fake's own contract


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    assert (body["success"], body["result"]) == (False, None)
    return response.status_code, body["errors"][0]["code"], body["errors"][0]["message"]


class TestFakeD1:
    @pytest.mark.parametrize(
        "sql", ["BEGIN", "BEGIN TRANSACTION", "COMMIT", "SAVEPOINT s1", "ROLLBACK", "release s1"]
    )
    def test_rejects_transaction_statements(self, fake: FakeD1, sql: str) -> None:
        """BEGIN/COMMIT/SAVEPOINT/ROLLBACK/RELEASE get D1's 7500 answer."""
        assert error_of(post(fake, {"sql": sql})) == (400, 7500, TRANSACTION_MESSAGE)

    @pytest.mark.parametrize(
        ("body", "status", "code", "message"),
        [
            (
                {"sql": "SELECT :name", "params": ["x"]},
                400,
                7500,
                "named parameter :name is not supported; D1 binds only ? and ?NNN parameters: SQLITE_RANGE",
            ),
            (
                {"sql": "SELECT ?1, ?2", "params": ["x"]},
                400,
                7500,
                "Wrong number of parameter bindings for SQL query.",
            ),
            (
                {"sql": "SELECT 1", "params": ["x"]},
                400,
                7500,
                "Wrong number of parameter bindings for SQL query.",
            ),
            (
                {"sql": "SELECT " + ", ".join(["?"] * 101), "params": list(range(101))},
                400,
                7500,
                "too many SQL variables: SQLITE_ERROR",
            ),
            (
                {"sql": "SELECT ?1", "params": list(range(101))},
                400,
                7500,
                "too many SQL variables: SQLITE_ERROR",
            ),
            ({"sql": "SELECT '" + "x" * 100_000 + "'"}, 400, 7500, "statement too long: SQLITE_TOOBIG"),
            (
                {"sql": "SELECT ?1", "params": ["x" * 2_000_001]},
                400,
                7500,
                "string or blob too big: SQLITE_TOOBIG",
            ),
            ({"sql": "SELECT ?1", "params": [{"a": 1}]}, 400, 7500, "Type 'dict' not supported for value"),
            ({"sql": "SELEC 1"}, 400, 7500, 'near "SELEC": syntax error: SQLITE_ERROR'),
            ({"batch": []}, 400, 7400, "The request is malformed: batch must be a non-empty array"),
        ],
    )
    def test_sql_errors_and_limits(
        self, fake: FakeD1, body: dict, status: int, code: int, message: str
    ) -> None:
        """Named placeholders, wrong counts, D1's limits and SQL errors answer as D1 does."""
        assert error_of(post(fake, body)) == (status, code, message)

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"token": "wrong"}, (401, 10000, "Authentication error")),
            ({"url": f"{BASE}/accounts/acct/d1/database/db/export"}, (404, 7003, "No route for the URI")),
            ({"url": f"{BASE}/accounts/acct/d1/database/other/query"}, (404, 7003, "No route for the URI")),
            ({"method": "PUT"}, (404, 7003, "No route for the URI")),
        ],
    )
    def test_routing_and_auth(self, fake: FakeD1, kwargs: dict, expected: tuple) -> None:
        """Only POST …/query (and /raw) of the configured database, with the right bearer token."""
        assert error_of(post(fake, {"sql": "SELECT 1"}, **kwargs)) == expected

    def test_batch_is_atomic(self, fake: FakeD1) -> None:
        """A failing statement rolls back every statement of its batch."""
        assert (
            post(fake, {"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"}).status_code == 200
        )
        response = post(
            fake,
            {
                "batch": [
                    {"sql": "INSERT INTO t (v) VALUES (?)", "params": ["a"]},
                    {"sql": "INSERT INTO t (v) VALUES (?)", "params": ["a"]},
                ]
            },
        )
        assert error_of(response) == (
            400,
            7500,
            "UNIQUE constraint failed: t.v: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)",
        )
        assert post(fake, {"sql": "SELECT COUNT(*) AS n FROM t"}).json()["result"][0]["results"] == [{"n": 0}]

    def test_success_envelope(self, fake: FakeD1) -> None:
        """result is one entry per statement with results, success and the documented meta keys."""
        body = post(
            fake,
            {"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b')"},
        ).json()
        assert (body["success"], body["errors"], body["messages"], len(body["result"])) == (True, [], [], 2)
        insert = body["result"][1]
        assert insert["success"] is True and insert["results"] == []
        assert set(insert["meta"]) >= {
            "changes",
            "last_row_id",
            "duration",
            "rows_read",
            "rows_written",
            "changed_db",
            "size_after",
            "served_by_region",
            "served_by_primary",
            "timings",
        }
        assert (
            insert["meta"]["changes"],
            insert["meta"]["rows_written"],
            insert["meta"]["last_row_id"],
            insert["meta"]["changed_db"],
        ) == (2, 2, 2, True)
        raw = post(fake, {"sql": "SELECT id, v FROM t ORDER BY id"}, url=URL.replace("/query", "/raw")).json()
        assert raw["result"][0]["results"] == {"columns": ["id", "v"], "rows": [[1, "a"], [2, "b"]]}

    @pytest.mark.parametrize(("numbers_as_real", "kind"), [(True, "real"), (False, "integer")])
    def test_numbers_bind_as_observed(self, tmp_path: Path, numbers_as_real: bool, kind: str) -> None:
        """JSON numbers bind as REAL by default (the live API's observed behaviour); whole values come
        back as JSON integers either way, and an INTEGER column stores them as INTEGER."""
        fake = FakeD1(
            tmp_path / "n.db",
            account_id="acct",
            database_id="db",
            api_token="token",
            numbers_as_real=numbers_as_real,
        )
        rows = post(fake, {"sql": "SELECT typeof(?1) AS t, ?1 AS v, ?2 AS b", "params": [3, True]}).json()
        assert rows["result"][0]["results"] == [{"t": kind, "v": 3, "b": 1}]
        post(fake, {"sql": "CREATE TABLE n (i INTEGER)"})
        post(fake, {"sql": "INSERT INTO n VALUES (?1)", "params": [5]})
        assert post(fake, {"sql": "SELECT typeof(i) AS t FROM n"}).json()["result"][0]["results"] == [
            {"t": "integer"}
        ]

    def test_placeholders_anonymous_and_ordered(self, fake: FakeD1) -> None:
        """? takes the next number; ?NNN may repeat and leave gaps."""
        rows = post(
            fake,
            {
                "batch": [
                    {"sql": "SELECT ? AS a, ? AS b", "params": ["x", "y"]},
                    {"sql": "SELECT ?1 AS a, ?3 AS c, ?1 AS d", "params": ["x", "y", "z"]},
                ]
            },
        )
        assert [r["results"] for r in rows.json()["result"]] == [
            [{"a": "x", "b": "y"}],
            [{"a": "x", "c": "z", "d": "x"}],
        ]

    def test_requests_are_recorded(self, fake: FakeD1) -> None:
        """Every request's body is kept, failed ones included."""
        fake.fail_next(status=503)
        post(fake, {"sql": "SELECT 1"})
        post(fake, {"sql": "SELECT 2"})
        assert fake.requests == [{"sql": "SELECT 1"}, {"sql": "SELECT 2"}]
