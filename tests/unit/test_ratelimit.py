"""The Cloudflare token's request budget, shared through DynamoDB (issue 14, item 2), on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

moto = pytest.importorskip("moto")

from leadeval.adapters.jobstore.d1 import D1Executor  # noqa: E402
from leadeval.adapters.jobstore.sql import Statement  # noqa: E402
from leadeval.adapters.ratelimit import TokenBucket, bucket_key  # noqa: E402
from leadeval.errors import ThrottledError  # noqa: E402


class Clock:
    """A wall clock the test moves; sleeping moves it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(name="table")
def _table(aws_credentials: None) -> Iterator[Any]:
    with moto.mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        table = dynamodb.create_table(TableName="idempotency", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                      BillingMode="PAY_PER_REQUEST")
        yield table


def bucket(table: Any, clock: Clock, **kwargs: Any) -> TokenBucket:
    return TokenBucket(table=table, key=bucket_key("secret-token"), clock=clock, sleep=clock.sleep, **kwargs)


def test_the_item_is_keyed_by_a_hash_never_the_token(table: Any) -> None:
    bucket(table, Clock()).acquire()
    [item] = table.scan()["Items"]
    assert item["id"].startswith("leadeval.ratelimit#") and "secret-token" not in str(item)


def test_a_burst_takes_the_capacity_then_waits_for_the_refill(table: Any) -> None:
    clock = Clock()
    limiter = bucket(table, clock, rate_per_second=2.0, capacity=5.0)
    for _ in range(5):
        limiter.acquire()
    assert clock.slept == []
    limiter.acquire()  # the sixth waits for one token: 0.5 s at 2/s
    assert clock.slept == [pytest.approx(0.5)]


def test_two_instances_draw_from_one_budget(table: Any) -> None:
    clock = Clock()
    first, second = bucket(table, clock, capacity=4.0), bucket(table, clock, capacity=4.0)
    for limiter in (first, second, first, second):
        limiter.acquire()
    assert clock.slept == []
    second.acquire()
    assert len(clock.slept) == 1  # the fifth request of the two waited: the budget is one


def test_no_token_in_time_snoozes_instead_of_waiting_on(table: Any) -> None:
    clock = Clock()
    limiter = bucket(table, clock, rate_per_second=0.05, capacity=1.0, max_wait_seconds=10.0)
    limiter.acquire()
    with pytest.raises(ThrottledError) as raised:
        limiter.acquire()  # one token takes 20 s
    assert raised.value.retry_after == 20 and clock.slept == []


def test_a_block_stops_every_instance_until_it_ends(table: Any) -> None:
    clock = Clock()
    first, second = bucket(table, clock), bucket(table, clock)
    first.block(300)
    first.block(30)  # an earlier end never shortens the block
    with pytest.raises(ThrottledError) as raised:
        second.acquire()
    assert raised.value.retry_after == 300
    clock.now += 300
    second.acquire()


def test_the_budget_holds_over_any_window(table: Any) -> None:
    """Callers asking as fast as they can get at most capacity + window x rate requests in a window (with the
    defaults: 60 + 300 s x 3.6/s = 1,140 in 5 minutes, under the API's 1,200); a smaller bucket keeps moto quick."""
    clock = Clock()
    limiter = bucket(table, clock, rate_per_second=2.0, capacity=5.0)
    start, granted = clock.now, 0
    while clock.now - start < 30:
        limiter.acquire()
        granted += 1
    assert 5 + 30 * 2 - 1 <= granted <= 5 + 30 * 2 + 1
    defaults = bucket(table, clock)
    assert defaults.capacity + 300 * defaults.rate_per_second <= 1200


def test_the_d1_executor_takes_a_token_per_request_and_shares_a_429(table: Any) -> None:
    clock = Clock()
    limiter = bucket(table, clock, capacity=3.0)
    answers = iter([httpx.Response(200, json={"success": True, "result": [{"results": [], "success": True}]}),
                    httpx.Response(429, headers={"retry-after": "120"}, json={"success": False, "errors": []})])
    sent: list[int] = []

    def transport(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        return next(answers)

    executor = D1Executor(account_id="a", database_id="d", api_token="secret-token",
                          client=httpx.Client(transport=httpx.MockTransport(transport)), limiter=limiter)
    statement = Statement("get_job", "SELECT * FROM ai_evaluation_jobs WHERE id = :job_id", {"job_id": "j"})
    executor.execute_batch([statement])
    with pytest.raises(ThrottledError):
        executor.execute_batch([statement])  # the 429: blocks the token for everyone
    other = D1Executor(account_id="a", database_id="d", api_token="secret-token",
                       client=httpx.Client(transport=httpx.MockTransport(transport)),
                       limiter=bucket(table, clock, capacity=3.0))
    with pytest.raises(ThrottledError) as raised:
        other.execute_batch([statement])
    assert (len(sent), raised.value.retry_after) == (2, 120)  # the other instance sent nothing
